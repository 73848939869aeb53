package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Session is a reseller's login. Only the SHA-256 of its token is stored.
type Session struct{ ent.Schema }

func (Session) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("ses", "sessions"), createdAtMixin{}, tenantMixin{}}
}

func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Sensitive().Immutable(),
		field.Time("expires_at"),
	}
}

func (Session) Edges() []ent.Edge {
	return []ent.Edge{resellerEdge("sessions")}
}

func (Session) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_hash").Unique()}
}

func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// APIToken lets a partner integration act for a reseller with a scope.
type APIToken struct{ ent.Schema }

func (APIToken) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("atk", "api_tokens"), createdAtMixin{}, tenantMixin{}}
}

func (APIToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Comment("A name to recognise the token by."),
		field.Enum("scope").Values("READ", "READ_WRITE").
			Comment("What the token may do.").
			Annotations(enumDoc{
				"":           "What an API token may do.",
				"READ":       "Queries and subscriptions only; a mutation is FORBIDDEN.",
				"READ_WRITE": "Queries, subscriptions and mutations, except createAPIToken (login sessions only).",
			}),
		field.Bytes("token_hash").
			Sensitive().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_used_at").Optional().Nillable().Comment("When it last authenticated a request; null if never."),
	}
}

func (APIToken) Edges() []ent.Edge {
	return []ent.Edge{resellerEdge("api_tokens", entgql.Skip(entgql.SkipAll))}
}

func (APIToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_hash").Unique()}
}

func (APIToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("A token a partner integration acts for its reseller with. Its secret is shown once, by createAPIToken."),
	}
}

// OperatorToken authenticates the license vendor's billing team; made by
// `clnd admin create-token`.
type OperatorToken struct{ ent.Schema }

func (OperatorToken) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("otk", "operator_tokens"), createdAtMixin{}}
}

func (OperatorToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty(),
		field.Bytes("token_hash").Sensitive().Immutable(),
		field.Time("last_used_at").Optional().Nillable(),
	}
}

func (OperatorToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_hash").Unique()}
}

func (OperatorToken) Interceptors() []ent.Interceptor { return systemRows.interceptors() }
func (OperatorToken) Hooks() []ent.Hook               { return systemRows.hooks() }

func (OperatorToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// LoginFailure records a failed login so that repeated failures are
// rate-limited across every clnd instance.
type LoginFailure struct{ ent.Schema }

func (LoginFailure) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("lgf", "login_failures"), createdAtMixin{}}
}

func (LoginFailure) Fields() []ent.Field {
	return []ent.Field{
		field.String("login"),
		field.String("address"),
	}
}

func (LoginFailure) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("login", "created_at"),
		index.Fields("address", "created_at"),
	}
}

func (LoginFailure) Interceptors() []ent.Interceptor { return systemRows.interceptors() }
func (LoginFailure) Hooks() []ent.Hook               { return systemRows.hooks() }

func (LoginFailure) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
