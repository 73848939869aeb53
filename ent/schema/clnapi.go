package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// CLNSecret is a reseller's secret for the CLN reseller REST API under /api/
// (internal/clnapi). The protocol signs with sha1(secret + timestamp), so
// clnd needs the plaintext: it is kept sealed (AES-GCM) with the server key
// CLND_SECRETS_KEY (internal/sealed), never hashed, never shown again.
type CLNSecret struct{ ent.Schema }

func (CLNSecret) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("cls", "cln_secrets"), createdAtMixin{}, tenantMixin{}}
}

func (CLNSecret) Fields() []ent.Field {
	return []ent.Field{
		// Nonce and ciphertext, sealed with the row's own ID as additional
		// data (internal/clnsecret): a sealed secret copied to another row,
		// another reseller's or another secret's, does not open.
		field.Bytes("sealed").Sensitive().Immutable(),
		field.Time("last_used_at").Optional().Nillable(),
	}
}

func (CLNSecret) Indexes() []ent.Index {
	return []ent.Index{index.Fields("reseller_id", "created_at")}
}

func (CLNSecret) Annotations() []schema.Annotation {
	// Bound by hand in graph/clnapi.graphqls: no connection, no node.
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// CLNTokenUse records a CLN API token once it has been accepted, so that
// it is refused if it comes again (replay), on any instance. A token is
// sha1(secret + timestamp) and signs nothing of the call, so it is good for
// one request: (secret, timestamp) is unique. Rows are kept until
// keep_until (the token's own expiry, and at least the rate-limit window)
// and then pruned; the rate limit counts a secret's rows by used_at.
type CLNTokenUse struct{ ent.Schema }

func (CLNTokenUse) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("ctu", "cln_token_uses")}
}

func (CLNTokenUse) Fields() []ent.Field {
	return []ent.Field{
		field.String("secret_id").Immutable(),
		field.Int64("signed_at").Immutable().Comment("The token's timestamp, Unix seconds."),
		field.Time("used_at").Immutable().Comment("When it was accepted, by the wall clock."),
		field.Time("keep_until").Immutable(),
	}
}

func (CLNTokenUse) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("secret_id", "signed_at").Unique(),
		index.Fields("secret_id", "used_at"),
		index.Fields("keep_until"),
	}
}

func (CLNTokenUse) Interceptors() []ent.Interceptor { return systemRows.interceptors() }
func (CLNTokenUse) Hooks() []ent.Hook               { return systemRows.hooks() }

func (CLNTokenUse) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
