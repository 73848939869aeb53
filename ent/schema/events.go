package schema

import (
	"encoding/json"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Event is one entry of the append-only event log: something that happened
// to a reseller's objects, written in the transaction of the change itself
// (internal/events). Partners poll it (Query.events) or receive it through
// webhooks.
type Event struct{ ent.Schema }

func (Event) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("evt", "events"), createdAtMixin{}, tenantMixin{}}
}

func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.String("type").
			Immutable().
			Comment("What happened, such as \"license.added\" (docs/events.md lists every type)."),
		field.String("object_id").
			Immutable().
			Comment("The ID of the object it happened to (node(id:) finds it).").
			Annotations(entgql.Type("ID")),
		// text, not jsonb: clnd sends parameters in binary (store.go), and
		// PostgreSQL's binary jsonb input wants a version byte lib/pq does
		// not write. Nothing queries inside it.
		field.JSON("object", json.RawMessage{}).
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Immutable().
			Comment("The object as the API showed it when the event happened, with GraphQL field names.").
			Annotations(entgql.Type("JSON")),
	}
}

func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("reseller_id", "created_at", "id"),
		index.Fields("created_at", "id"),
	}
}

func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("Something that happened to a reseller's objects: an entry of the append-only event log, also delivered to webhook endpoints."),
		entgql.RelayConnection(),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// WebhookEndpoint is a URL events are posted to, signed with its secret.
// A reseller's endpoints receive its own events; an operator's (reseller_id
// empty) receive every reseller's.
type WebhookEndpoint struct{ ent.Schema }

func (WebhookEndpoint) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("whe", "webhook_endpoints"), createdAtMixin{}, tenantMixin{}}
}

func (WebhookEndpoint) Fields() []ent.Field {
	return []ent.Field{
		field.String("url").Comment("Where events are posted (http or https)."),
		field.String("description").Default("").Comment("What it is for, for humans."),
		// text for the reason Event.object is; matched in Go (events.go).
		field.Strings("events").
			SchemaType(map[string]string{dialect.Postgres: "text"}).
			Comment("The event types it receives, e.g. [\"license.added\"]; [\"*\"] is every type."),
		field.Bool("enabled").Default(true).
			Comment("Whether events are delivered to it. clnd disables an endpoint whose deliveries keep failing for about three days."),
		field.String("disabled_reason").Default("").
			Comment("Why clnd disabled it; empty when enabled or disabled by its owner."),
		field.Bytes("secret").Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("previous_secret").Optional().Nillable().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("previous_secret_expires_at").Optional().Nillable().
			Comment("Until when deliveries are also signed with the secret replaced by the last rotation."),
		field.Time("failing_since").Optional().Nillable().
			Comment("When its deliveries started failing; empty while they succeed."),
	}
}

func (WebhookEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		// Query.webhookDeliveries(where: {endpointID}) lists them.
		edge.To("deliveries", WebhookDelivery.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (WebhookEndpoint) Indexes() []ent.Index {
	return []ent.Index{index.Fields("reseller_id")}
}

func (WebhookEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A URL clnd posts events to, signed with the endpoint's secret (header Clnd-Signature)."),
		entgql.RelayConnection(),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// WebhookDelivery is one event on its way to one endpoint: attempted by a
// River job until the endpoint answers 2xx or the retries run out.
type WebhookDelivery struct{ ent.Schema }

func (WebhookDelivery) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("whd", "webhook_deliveries"), createdAtMixin{}, tenantMixin{}}
}

func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.String("endpoint_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("event_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").
			Values("PENDING", "SUCCEEDED", "FAILED", "CANCELED").
			Default("PENDING").
			Comment("Where the delivery stands.").
			Annotations(enumDoc{
				"":          "Where a webhook delivery stands.",
				"PENDING":   "Not delivered yet: waiting for its first or next attempt.",
				"SUCCEEDED": "The endpoint answered 2xx.",
				"FAILED":    "Every attempt failed (about three days of retries); redeliverWebhook tries again.",
				"CANCELED":  "Not attempted further: the endpoint was disabled or deleted.",
			}),
		field.Int("attempts").Default(0).Comment("How many times clnd posted it."),
		field.Time("next_attempt_at").Optional().Nillable().
			Comment("When the next attempt is due, by clnd's clock; empty once it succeeded, failed or was canceled."),
		field.Time("last_attempt_at").Optional().Nillable().Comment("When it was last posted, by clnd's clock."),
		field.Int("response_status").Optional().Nillable().
			Comment("The HTTP status code of the last answer; empty when there was none (timeout, refused connection)."),
		field.Int("duration_ms").Optional().Nillable().Comment("How long the last attempt took, in milliseconds."),
		field.String("error").Default("").Comment("Why the last attempt failed; empty when it succeeded."),
		field.Time("delivered_at").Optional().Nillable().Comment("When the endpoint accepted it."),
		field.Int64("job_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("endpoint", WebhookEndpoint.Type).Ref("deliveries").Field("endpoint_id").
			Unique().Required().Immutable().Comment("The endpoint it goes to."),
		edge.To("event", Event.Type).Field("event_id").
			Unique().Required().Immutable().Comment("The event it carries."),
	}
}

func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("endpoint_id", "created_at"),
		index.Fields("event_id"),
		index.Fields("status", "next_attempt_at"),
		index.Fields("reseller_id", "created_at"),
	}
}

func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One event on its way to one webhook endpoint, and how its attempts went."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}
