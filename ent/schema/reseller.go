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
			Comment("The login name, lower-case: 3–64 of a-z 0-9 . _ -, unique without regard to case.").
			Annotations(entgql.OrderField("LOGIN"), bytewise(), orderDoc("By login, byte order.")),
		field.String("password_hash").
			Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("company").
			Default("").
			Comment("The company name; empty when not given.").
			Annotations(entgql.OrderField("COMPANY"), bytewise(), orderDoc("By company name, byte order (case-sensitive).")),
		field.String("first_name").Default("").Comment("The contact's first name; empty when not given."),
		field.String("last_name").Default("").Comment("The contact's last name; empty when not given."),
		field.String("billing_email").Comment("Where invoices and payment notices go."),
		// Cached sum of the reseller's transactions; only internal/ledger writes it.
		field.Int64("balance").
			GoType(money.Cents(0)).
			Default(0).
			Comment("The prepaid deposit in US dollars: the sum of the reseller's transactions. Negative when it owes money.").
			Annotations(entgql.Type("Money"), entgql.OrderField("BALANCE"), orderDoc("By balance.")),
		field.Enum("status").
			Values("ACTIVE", "PAST_DUE", "SUSPENDED").
			Default("ACTIVE").
			Comment("Whether the reseller may add licenses, backups and limits.").
			Annotations(enumDoc{
				"":          "Whether a reseller is in good standing.",
				"ACTIVE":    "In good standing.",
				"PAST_DUE":  "An autopayment was declined and the balance is negative: adding licenses, backups or raising limits is PAYMENT_REQUIRED until a top-up brings the balance to zero or above.",
				"SUSPENDED": "Suspended by the operator (no mutation sets it): adding licenses or backups, or raising limits, is FORBIDDEN.",
			}),
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
			Comment("The reseller's live IP licenses.").
			Annotations(entgql.RelayConnection()),
		edge.To("server_accounts", ServerAccount.Type).
			Comment("The reseller's live server accounts.").
			Annotations(entgql.RelayConnection()),
		edge.To("invoices", Invoice.Type).
			Comment("The reseller's invoices and receipts.").
			Annotations(entgql.RelayConnection()),
		edge.To("transactions", Transaction.Type).
			Comment("The reseller's ledger: every change of its balance.").
			Annotations(entgql.RelayConnection()),
		edge.To("payment_methods", PaymentMethod.Type).
			Comment("Saved cards and PayPal accounts, oldest first."),
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
			Comment("Calls to payment providers that moved or tried to move the reseller's money.").
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
		schema.Comment("A reseller: a company with a prepaid deposit that licenses its customers' servers and is billed monthly from it. A reseller sees only itself."),
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
		Comment("The reseller that owns it.").
		Annotations(annotations...)
}
