package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"clnd/internal/catalog"
)

// IPLicense licenses one product for a server identified by its public IP.
type IPLicense struct{ ent.Schema }

func (IPLicense) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("ipl", "ip_licenses"), createdAtMixin{}, tenantMixin{}, removedAtMixin{}}
}

func (IPLicense) Fields() []ent.Field {
	return []ent.Field{
		// Canonical text form (net/netip), so equal addresses compare equal.
		field.String("ip").
			Immutable().
			NotEmpty().
			Annotations(entgql.OrderField("IP"), bytewise()),
		field.Enum("type").
			GoType(catalog.LicenseType("")).
			Immutable().
			Annotations(entgql.Type("LicenseType")),
		// Denormalised from the product so that the unique index can enforce
		// "one license per address and product family" in the database.
		field.Enum("family").
			GoType(catalog.Family("")).
			Immutable().
			Annotations(entgql.Type("ProductFamily"), entgql.Skip(entgql.SkipType, entgql.SkipOrderField)),
		field.String("hostname").
			Default("").
			Annotations(entgql.OrderField("HOSTNAME"), bytewise()),
		field.String("product_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_check_in").
			Optional().
			Nillable().
			Annotations(entgql.OrderField("LAST_CHECK_IN")),
	}
}

func (IPLicense) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("ip_licenses"),
		edge.To("product", Product.Type).
			Field("product_id").
			Unique().
			Required().
			Immutable(),
		// The live backup (Backup.live_license_id); removed ones keep
		// only Backup.license.
		edge.To("backup", Backup.Type).
			Unique(),
	}
}

func (IPLicense) Indexes() []ent.Index {
	return []ent.Index{
		// One live license per address and family; removed ones keep their address.
		index.Fields("ip", "family").Unique().Annotations(liveOnly()),
		index.Fields("reseller_id", "created_at"),
		index.Fields("reseller_id", "type"),
	}
}

func (IPLicense) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Backup is backup storage attached to an IP license.
type Backup struct{ ent.Schema }

func (Backup) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("bkp", "backups"), createdAtMixin{}, tenantMixin{}, removedAtMixin{}}
}

func (Backup) Fields() []ent.Field {
	return []ent.Field{
		field.Int("size_gb").Positive(),
		// The license the backup belongs to, for as long as the backup exists.
		field.String("license_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The same license while the backup is live, NULL once it is removed:
		// the column of IPLicense.backup, so that a license has at most one
		// live backup and may have many removed ones.
		field.String("live_license_id").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("datacenter_id").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Backup) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("backups"),
		// History: a backup belongs to its license for good (the field is
		// non-null), so a removed backup still reaches its removed license.
		edge.To("license", IPLicense.Type).
			Field("license_id").
			Unique().
			Required().
			Immutable().
			Annotations(History{}),
		edge.From("live_license", IPLicense.Type).
			Ref("backup").
			Field("live_license_id").
			Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("datacenter", Datacenter.Type).
			Field("datacenter_id").
			Unique().
			Required(),
	}
}

func (Backup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("license_id")}
}

func (Backup) Annotations() []schema.Annotation {
	return []schema.Annotation{
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// ServerAccount is a Spacewalk-style account: a license limit that servers
// fill by registering with one of its activation keys.
type ServerAccount struct{ ent.Schema }

func (ServerAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("sac", "server_accounts"), createdAtMixin{}, tenantMixin{}, removedAtMixin{}}
}

func (ServerAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("login").
			NotEmpty().
			Annotations(entgql.OrderField("LOGIN"), bytewise()),
		field.String("first_name").Default(""),
		field.String("last_name").Default(""),
		field.String("company").Default(""),
		field.String("email").Default(""),
		field.Int("license_limit").
			NonNegative().
			Annotations(entgql.OrderField("LICENSE_LIMIT")),
		// Registered servers; kept as a counter so that registration can check
		// the limit with one conditional UPDATE.
		field.Int("used_licenses").
			NonNegative().
			Default(0),
	}
}

func (ServerAccount) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("server_accounts"),
		edge.To("keys", ActivationKey.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("servers", Server.Type).
			Annotations(entgql.RelayConnection(), entsql.OnDelete(entsql.Cascade)),
	}
}

func (ServerAccount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("login").Unique().Annotations(liveOnly()),
		index.Fields("reseller_id", "created_at"),
	}
}

func (ServerAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// ActivationKey is the token a server registers with.
type ActivationKey struct{ ent.Schema }

func (ActivationKey) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("akey", "activation_keys"), createdAtMixin{}, tenantMixin{}}
}

func (ActivationKey) Fields() []ent.Field {
	return []ent.Field{
		// Shown to the reseller in the dashboard, as in CLN, so it is stored as is.
		field.String("token").Immutable().NotEmpty(),
		// Servers registered with this key.
		field.Int("usage").NonNegative().Default(0),
		field.String("server_account_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (ActivationKey) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("activation_keys"),
		edge.From("server_account", ServerAccount.Type).
			Ref("keys").
			Field("server_account_id").
			Unique().
			Required().
			Immutable(),
		edge.To("servers", Server.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (ActivationKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token").Unique()}
}

func (ActivationKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Server is a host registered to a server account with an activation key.
type Server struct{ ent.Schema }

func (Server) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("srv", "servers"), tenantMixin{}}
}

func (Server) Fields() []ent.Field {
	return []ent.Field{
		field.String("hostname").Default("").Annotations(entgql.OrderField("HOSTNAME"), bytewise()),
		field.String("ip").Default(""),
		field.Time("registered_at").
			Immutable().
			Annotations(entgql.OrderField("REGISTERED_AT")),
		field.Time("last_check_in").
			Optional().
			Nillable().
			Annotations(entgql.OrderField("LAST_CHECK_IN")),
		// SHA-256 of the credential returned once by registerServer.
		field.Bytes("credential_hash").
			Sensitive().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("server_account_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("activation_key_id").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Server) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("servers"),
		edge.From("server_account", ServerAccount.Type).
			Ref("servers").
			Field("server_account_id").
			Unique().
			Required().
			Immutable(),
		// A removed key leaves its servers registered.
		edge.From("activation_key", ActivationKey.Type).
			Ref("servers").
			Field("activation_key_id").
			Unique(),
	}
}

func (Server) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("credential_hash").Unique(),
		index.Fields("server_account_id", "registered_at"),
	}
}

func (Server) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
