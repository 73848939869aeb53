package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"clnd/internal/money"
)

// Reseller is a tenant: a company with a prepaid deposit that licenses its
// customers' servers.
type Reseller struct{ ent.Schema }

func (Reseller) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("rsl", "resellers"), createdAtMixin{}}
}

func (Reseller) Fields() []ent.Field {
	return []ent.Field{
		// Stored lower-cased; the unique index makes logins case-insensitive.
		field.String("login").
			NotEmpty().
			Annotations(entgql.OrderField("LOGIN"), bytewise()),
		field.String("password_hash").
			Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("company").
			Default("").
			Annotations(entgql.OrderField("COMPANY"), bytewise()),
		field.String("first_name").Default(""),
		field.String("last_name").Default(""),
		field.String("billing_email"),
		// Cached sum of the reseller's transactions; only internal/ledger writes it.
		field.Int64("balance").
			GoType(money.Cents(0)).
			Default(0).
			Annotations(entgql.Type("Money"), entgql.OrderField("BALANCE")),
		field.Enum("status").
			Values("ACTIVE", "PAST_DUE", "SUSPENDED").
			Default("ACTIVE"),
		field.Enum("autopay_mode").
			Values("AUTO_ADD_FUNDS", "AUTO_REPAY", "NONE").
			Default("AUTO_REPAY").
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The reseller's customer at the card gateway (Stripe: "cus_…").
		field.String("gateway_customer").
			Default("").
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The balance AUTO_ADD_FUNDS tops up to.
		field.Int64("autopay_target").
			GoType(money.Cents(0)).
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Reseller) Edges() []ent.Edge {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Edge{
		edge.To("ip_licenses", IPLicense.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("server_accounts", ServerAccount.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("invoices", Invoice.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("transactions", Transaction.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("payment_methods", PaymentMethod.Type),
		edge.To("api_tokens", APIToken.Type).Annotations(hidden),
		edge.To("sessions", Session.Type).Annotations(hidden),
		edge.To("backups", Backup.Type).Annotations(hidden),
		edge.To("activation_keys", ActivationKey.Type).Annotations(hidden),
		edge.To("servers", Server.Type).Annotations(hidden),
		edge.To("invoice_lines", InvoiceLine.Type).Annotations(hidden),
		edge.To("invoice_items", InvoiceItem.Type).Annotations(hidden),
		edge.To("billable_runs", BillableRun.Type).Annotations(hidden),
		edge.To("checkouts", Checkout.Type).Annotations(hidden),
		edge.To("payment_attempts", PaymentAttempt.Type).
			Annotations(entgql.RelayConnection()),
	}
}

// A reseller sees and changes only its own row.
func (Reseller) Interceptors() []ent.Interceptor { return resellerItself.interceptors() }
func (Reseller) Hooks() []ent.Hook               { return resellerItself.hooks() }

func (Reseller) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("login").Unique(),
	}
}

func (Reseller) Annotations() []schema.Annotation {
	return []schema.Annotation{
		resellerItself,
		entgql.RelayConnection(),
	}
}

// resellerEdge is the owning edge every tenant-owned type declares.
func resellerEdge(ref string, annotations ...schema.Annotation) ent.Edge {
	return edge.From("reseller", Reseller.Type).
		Ref(ref).
		Field("reseller_id").
		Unique().
		Required().
		Immutable().
		Annotations(annotations...)
}
