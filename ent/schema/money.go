package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"clnd/internal/money"
)

func moneyField(name string) ent.Field {
	return field.Int64(name).GoType(money.Cents(0)).Annotations(entgql.Type("Money"))
}

// fixedMoneyField is a money field that never changes once written; comment
// is its description in the GraphQL schema.
func fixedMoneyField(name, comment string) ent.Field {
	return field.Int64(name).GoType(money.Cents(0)).Immutable().Comment(comment).Annotations(entgql.Type("Money"))
}

// PaymentMethod is a saved card or PayPal account, kept only as the
// gateway's reference and a label ("Visa •••• 4242"); never card data.
type PaymentMethod struct{ ent.Schema }

func (PaymentMethod) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("pmt", "payment_methods"), createdAtMixin{}, tenantMixin{}}
}

func (PaymentMethod) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("CARD", "PAYPAL").
			Comment("A card or a PayPal account.").
			Annotations(enumDoc{"": "What kind of payment method it is.", "CARD": "A payment card.", "PAYPAL": "A PayPal account."}),
		field.String("label").Comment("How to show it: \"Visa •••• 4242\", a PayPal email."),
		field.Bool("is_default").Default(false).Comment("Whether autopayments and top-ups without a paymentMethodID charge it."),
		field.String("gateway").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("gateway_ref").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (PaymentMethod) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("payment_methods"),
	}
}

func (PaymentMethod) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A saved card or PayPal account, known by its gateway reference and a label; clnd keeps no card data."),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Transaction is one entry of the append-only ledger. The reseller's balance
// is always the sum of its transactions.
type Transaction struct{ ent.Schema }

func (Transaction) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("txn", "transactions"), createdAtMixin{}, tenantMixin{}}
}

func (Transaction) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").
			Values("DEPOSIT", "TOP_UP", "AUTOPAYMENT", "CHARGE", "REFUND", "ADJUSTMENT").
			Immutable().
			Comment("Why the balance changed.").
			Annotations(enumDoc{
				"":            "Why a reseller's balance changed.",
				"DEPOSIT":     "The initial deposit charged at registration.",
				"TOP_UP":      "Funds added by topUp or a completed checkout.",
				"AUTOPAYMENT": "A charge made by autopayment after a debit.",
				"CHARGE":      "A monthly invoice debited from the balance (negative).",
				"REFUND":      "A payment given back by the operator (negative).",
				"ADJUSTMENT":  "An operator's correction (adjustBalance), either sign.",
			}),
		fixedMoneyField("amount", "The signed change of the balance in US dollars: positive credits, negative debits."),
		fixedMoneyField("balance_after", "The balance right after this transaction."),
		field.String("description").Default("").Immutable().Comment("What it was for, for people (an operator's reason, the invoice it paid)."),
		field.String("invoice_id").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Transaction) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("transactions"),
		edge.From("invoice", Invoice.Type).
			Ref("transactions").
			Field("invoice_id").
			Unique().
			Comment("The invoice or receipt it belongs to, if any."),
	}
}

func (Transaction) Indexes() []ent.Index {
	return []ent.Index{index.Fields("reseller_id", "created_at")}
}

func (Transaction) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One entry of a reseller's append-only ledger; the balance is always the sum of its transactions."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Invoice is a monthly bill (INVOICE) or a receipt for money received
// (PAYMENT_RECEIVED) or returned (REFUND).
type Invoice struct{ ent.Schema }

func (Invoice) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("inv", "invoices"), createdAtMixin{}, tenantMixin{}}
}

func (Invoice) Fields() []ent.Field {
	return []ent.Field{
		field.String("number").
			Immutable().
			NotEmpty().
			Comment("The invoice number people quote, unique.").
			Annotations(entgql.OrderField("NUMBER"), bytewise(), orderDoc("By invoice number, byte order.")),
		field.Enum("type").
			Values("INVOICE", "PAYMENT_RECEIVED", "REFUND").
			Immutable().
			Comment("A monthly bill or a receipt.").
			Annotations(enumDoc{
				"":                 "What an invoice document is.",
				"INVOICE":          "The monthly bill for a period, debited from the balance.",
				"PAYMENT_RECEIVED": "A receipt for money received (deposit, top-up, autopayment, checkout).",
				"REFUND":           "A receipt for money given back.",
			}),
		// "2026-10" on monthly INVOICEs only; the unique index keys on it.
		field.String("billing_period").
			Optional().
			Nillable().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("period_start").Optional().Nillable().Immutable().Comment("INVOICE: the start of the billed month (UTC); null on receipts."),
		field.Time("period_end").Optional().Nillable().Immutable().Comment("INVOICE: the end of the billed month, exclusive; null on receipts."),
		fixedMoneyField("total", "The amount in US dollars: what was billed, received or refunded."),
		// The reseller's balance right after this invoice.
		fixedMoneyField("balance", "The reseller's balance right after this invoice."),
	}
}

func (Invoice) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("invoices"),
		edge.To("lines", InvoiceLine.Type).
			Comment("One line per product billed, in order; empty on receipts.").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("transactions", Transaction.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Invoice) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("number").Unique(),
		index.Fields("reseller_id", "created_at"),
		// One monthly INVOICE per reseller and period: billing twice bills
		// nothing twice. Only INVOICEs carry billing_period; NULLs never collide.
		index.Fields("reseller_id", "billing_period").Unique(),
	}
}

func (Invoice) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A monthly bill (INVOICE), or a receipt for money received (PAYMENT_RECEIVED) or returned (REFUND); downloadURL gives its PDF."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// InvoiceLine groups an invoice's items by product.
type InvoiceLine struct{ ent.Schema }

func (InvoiceLine) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("inl", "invoice_lines"), tenantMixin{}}
}

func (InvoiceLine) Fields() []ent.Field {
	return []ent.Field{
		field.Int("position").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("title").Immutable().Comment("What the line bills: a product's name, with \" (server account licenses)\" for account limits, or \"Backup storage (per GB-month)\"."),
		field.Int("quantity").Immutable().Comment("How many units the line bills."),
		fixedMoneyField("unit_price", "The price of one unit for a full month."),
		fixedMoneyField("subtotal", "The line's amount: the sum of its items."),
		field.String("invoice_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("product_id").Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (InvoiceLine) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("invoice_lines"),
		edge.From("invoice", Invoice.Type).
			Ref("lines").
			Field("invoice_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("product", Product.Type).
			Field("product_id").
			Unique().
			Immutable().
			Comment("The product billed; null for backup storage."),
		edge.To("items", InvoiceItem.Type).
			Comment("The billed things, each with its slice of time.").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

func (InvoiceLine) Indexes() []ent.Index {
	return []ent.Index{index.Fields("invoice_id", "position")}
}

func (InvoiceLine) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("The part of an invoice for one product."),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// InvoiceItem is one billable thing's slice of time on an invoice line.
// The license, account or backup may since have been removed; the item keeps
// its description and amount, and its edges still reach them (History).
type InvoiceItem struct{ ent.Schema }

func (InvoiceItem) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("iit", "invoice_items"), tenantMixin{}}
}

func (InvoiceItem) Fields() []ent.Field {
	return []ent.Field{
		field.String("description").Immutable().Comment("What was billed, for people: the license, account or backup."),
		field.Time("period_start").Immutable().Comment("The start of the billed slice of time."),
		field.Time("period_end").Immutable().Comment("The end of the billed slice of time, exclusive."),
		fixedMoneyField("amount", "What the slice cost: unit price × quantity × the share of the month, rounded half up to cents."),
		field.String("line_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("license_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("server_account_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("backup_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (InvoiceItem) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("invoice_items"),
		edge.From("line", InvoiceLine.Type).
			Ref("items").
			Field("line_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// History: an item names what it billed even after it was removed.
		edge.To("license", IPLicense.Type).
			Field("license_id").
			Unique().
			Comment("The IP license billed, even if since removed; null for other items.").
			Annotations(entsql.OnDelete(entsql.SetNull), History{}),
		edge.To("server_account", ServerAccount.Type).
			Field("server_account_id").
			Unique().
			Comment("The server account billed, even if since removed; null for other items.").
			Annotations(entsql.OnDelete(entsql.SetNull), History{}),
		edge.To("backup", Backup.Type).
			Field("backup_id").
			Unique().
			Comment("The backup billed, even if since removed; null for other items.").
			Annotations(entsql.OnDelete(entsql.SetNull), History{}),
	}
}

func (InvoiceItem) Indexes() []ent.Index {
	return []ent.Index{index.Fields("line_id")}
}

func (InvoiceItem) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One billed thing's (license, server account or backup) slice of time on an invoice line."),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// BillableRun is a run of time during which one billable thing (an IP
// license, a server account's limit, a backup's size) is charged at a fixed
// quantity and unit price. Any change closes the run and opens the next.
type BillableRun struct{ ent.Schema }

func (BillableRun) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("brn", "billable_runs"), tenantMixin{}}
}

func (BillableRun) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("IP_LICENSE", "SERVER_ACCOUNT", "BACKUP").Immutable(),
		// The license, server account or backup; not a foreign key, because a
		// run outlives the thing it bills until the month is invoiced.
		field.String("subject_id").Immutable(),
		field.String("product_id").Optional().Nillable().Immutable(),
		field.String("description").Immutable(),
		field.Int("quantity").Immutable(),
		fixedMoneyField("unit_price", ""),
		field.Time("started_at").Immutable(),
		field.Time("ended_at").Optional().Nillable(),
	}
}

func (BillableRun) Edges() []ent.Edge {
	return []ent.Edge{resellerEdge("billable_runs")}
}

func (BillableRun) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("reseller_id", "started_at"),
		index.Fields("subject_id", "ended_at"),
	}
}

func (BillableRun) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// IdempotencyRecord remembers the first result of a money-moving mutation
// under its idempotency key so that a retry replays it.
type IdempotencyRecord struct{ ent.Schema }

func (IdempotencyRecord) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("idk", "idempotency_records"), createdAtMixin{}}
}

func (IdempotencyRecord) Fields() []ent.Field {
	return []ent.Field{
		// The reseller ID, or "anonymous" for registration.
		field.String("owner").Immutable(),
		field.String("operation").Immutable(),
		field.String("key").Immutable(),
		field.Bytes("request_hash").Immutable(),
		field.Text("response").Optional(),
		field.Time("expires_at").Immutable(),
	}
}

func (IdempotencyRecord) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("owner", "operation", "key").Unique(),
		index.Fields("expires_at"),
	}
}

func (IdempotencyRecord) Interceptors() []ent.Interceptor { return systemRows.interceptors() }
func (IdempotencyRecord) Hooks() []ent.Hook               { return systemRows.hooks() }

func (IdempotencyRecord) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Checkout is a PayPal-style redirect payment, credited exactly once when the
// provider's signed webhook confirms it.
type Checkout struct{ ent.Schema }

func (Checkout) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("chk", "checkouts"), createdAtMixin{}, tenantMixin{}}
}

func (Checkout) Fields() []ent.Field {
	return []ent.Field{
		fixedMoneyField("amount", "The amount to pay in US dollars, credited as a TOP_UP once paid."),
		field.Enum("status").Values("PENDING", "COMPLETED", "CANCELED", "EXPIRED", "FAILED").Default("PENDING").
			Comment("Where the payment stands.").
			Annotations(enumDoc{
				"":          "Where a checkout stands.",
				"PENDING":   "Waiting for the payer.",
				"COMPLETED": "Paid and credited.",
				"CANCELED":  "The payer canceled.",
				"EXPIRED":   "The payer did not finish in time.",
				"FAILED":    "The provider refused the payment.",
			}),
		field.String("provider").Immutable().Comment("The payment provider: paypal or sandbox."),
		// The provider's order ID (the sandbox's is the checkout's own ID).
		field.String("provider_ref").Optional().Comment("The provider's order ID."),
		// Where the payer approves the order at the provider.
		field.String("approve_url").Default("").Annotations(entgql.Skip(entgql.SkipAll)),
		// The dashboard's pages the payer is sent back to.
		field.String("return_url").Default("").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("cancel_url").Default("").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("completed_at").Optional().Nillable().Comment("When it was paid; null until then."),
		field.String("transaction_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Checkout) Edges() []ent.Edge {
	return []ent.Edge{resellerEdge("checkouts")}
}

func (Checkout) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A redirect payment (PayPal-style): the payer approves it at redirectURL and the amount is credited exactly once."),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// PaymentAttempt is one call to a payment provider that moves money: a
// charge (the registration deposit, a top-up, an autopayment, a checkout
// capture) or a refund. It is committed PENDING before the provider is
// called, and its ID is the idempotency key the provider gets, so a crash or
// a timeout is settled later by asking again with the same key (see
// internal/accounts/settle.go).
type PaymentAttempt struct{ ent.Schema }

func (PaymentAttempt) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("pat", "payment_attempts"), createdAtMixin{}, tenantMixin{}}
}

func (PaymentAttempt) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.Enum("purpose").
			Values("DEPOSIT", "TOP_UP", "AUTOPAYMENT", "CHECKOUT", "REFUND").
			Immutable().
			Comment("What the money is for. REFUND attempts give money back; the others take it.").
			Annotations(enumDoc{
				"":            "What a payment attempt's money is for.",
				"DEPOSIT":     "The initial deposit at registration.",
				"TOP_UP":      "A top-up.",
				"AUTOPAYMENT": "An autopayment after a debit.",
				"CHECKOUT":    "The capture of a checkout.",
				"REFUND":      "A refund of an earlier payment.",
			}),
		// Always positive, also for refunds.
		fixedMoneyField("amount", "The amount in US dollars; positive, also for refunds."),
		field.Enum("status").
			Values("PENDING", "SUCCEEDED", "DECLINED", "REQUIRES_ACTION", "NEEDS_REVIEW").
			Default("PENDING").
			Comment("PENDING until the provider's answer is recorded; REQUIRES_ACTION waits for the payer (3-D Secure, PayPal approval); NEEDS_REVIEW: the provider never answered within a day, so an operator checks its dashboard.").
			Annotations(enumDoc{
				"":                "Where a payment attempt stands.",
				"PENDING":         "Not settled yet: the provider's answer is not recorded.",
				"SUCCEEDED":       "The money moved.",
				"DECLINED":        "The provider declined; nothing moved.",
				"REQUIRES_ACTION": "Waiting for the payer (3-D Secure, PayPal approval).",
				"NEEDS_REVIEW":    "The provider never answered within a day; an operator checks the provider's dashboard.",
			}),
		field.String("reason").
			Default("").
			Comment("Why the provider declined, or why nothing could be charged; the last error while PENDING."),
		field.String("decline_code").
			Default("").
			Comment("The provider's code for a decline (Stripe's decline_code, PayPal's issue)."),
		field.String("gateway").
			Default("sandbox").
			Immutable().
			Comment("The provider: sandbox, stripe or paypal."),
		field.String("method_label").
			Default("").
			Immutable().
			Comment("The payment method charged, as its label (\"Visa •••• 4242\")."),
		field.String("method_ref").Default("").Immutable().Annotations(hidden),
		field.String("customer_ref").Default("").Immutable().Annotations(hidden),
		field.String("gateway_ref").
			Default("").
			Comment("The provider's reference once known: a PaymentIntent, a PayPal capture, a refund."),
		field.String("transaction_id").
			Optional().
			Nillable().
			Annotations(hidden),
		// REFUND attempts: the payment transaction they give back and the
		// provider's reference of its charge.
		field.String("refund_of_id").Optional().Nillable().Immutable().Annotations(hidden),
		field.String("charge_ref").Default("").Immutable().Annotations(hidden),
		// CHECKOUT attempts: the checkout they capture.
		field.String("checkout_id").Optional().Nillable().Immutable().Annotations(hidden),
		field.Time("settled_at").
			Optional().
			Nillable().
			Comment("When the outcome was recorded."),
		// Wall-clock times (never the sandbox clock, which may stand still):
		// when the attempt was opened, and when the reconciler next asks the
		// provider about it while PENDING. NULL on attempts recorded before
		// attempts were committed first (all settled).
		field.Time("opened_at").Optional().Nillable().Immutable().Annotations(hidden),
		field.Time("next_try_at").Optional().Nillable().Annotations(hidden),
		field.Int("tries").Default(0).Annotations(hidden),
	}
}

func (PaymentAttempt) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("payment_attempts", entgql.Skip(entgql.SkipAll)),
		edge.To("transaction", Transaction.Type).
			Field("transaction_id").
			Unique().
			Comment("The ledger entry that recorded the money, once it moved."),
		edge.To("refund_of", Transaction.Type).
			Field("refund_of_id").
			Unique().
			Immutable().
			Comment("REFUND attempts: the payment they give back."),
	}
}

func (PaymentAttempt) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("reseller_id", "created_at"),
		index.Fields("status", "next_try_at"),
		index.Fields("refund_of_id"),
		index.Fields("checkout_id"),
		index.Fields("transaction_id"),
	}
}

func (PaymentAttempt) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One call to a payment provider that moves money (a charge or a refund), committed before the provider is called, and its outcome."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// GatewayEvent is a payment provider's webhook notification as received:
// each is acted on once (the provider's event ID is unique), and operators
// read them, disputes above all.
type GatewayEvent struct{ ent.Schema }

func (GatewayEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("gev", "gateway_events"), createdAtMixin{}}
}

func (GatewayEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("provider").Immutable().Comment("stripe, paypal or sandbox."),
		field.String("event_id").Immutable().Comment("The provider's event ID."),
		field.String("type").Immutable().Comment("The provider's event type, e.g. charge.dispute.created."),
		field.String("reseller_id").Optional().Nillable().Immutable().Comment("The reseller it concerns, when known."),
		field.String("reference").Default("").Immutable().Comment("The provider's object it is about (PaymentIntent, charge, order, capture)."),
		field.Int64("amount").GoType(money.Cents(0)).Optional().Nillable().Immutable().
			Annotations(entgql.Type("Money")).Comment("The amount it names, when it names one."),
		field.String("summary").Default("").Immutable().Comment("What clnd did with it, for humans."),
	}
}

func (GatewayEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("provider", "event_id").Unique(),
		index.Fields("created_at"),
	}
}

func (GatewayEvent) Interceptors() []ent.Interceptor { return systemRows.interceptors() }
func (GatewayEvent) Hooks() []ent.Hook               { return systemRows.hooks() }

func (GatewayEvent) Annotations() []schema.Annotation {
	return append(systemRows.annotations(),
		entgql.RelayConnection(),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("A payment provider's webhook notification as received, and what clnd did with it (operators only)."),
	)
}

// SandboxPayment is the sandbox provider's own memory of what it charged,
// captured and refunded, keyed like Stripe by the idempotency key. It stands
// for the provider's side of the world, so it is written outside clnd's
// transactions and survives a crash of clnd.
type SandboxPayment struct{ ent.Schema }

func (SandboxPayment) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").Immutable().Comment("The idempotency key."),
		field.Enum("kind").Values("CHARGE", "REFUND", "ORDER", "CAPTURE").Immutable(),
		field.String("ref").Immutable().Comment("The method charged, the charge refunded, or the order captured."),
		fixedMoneyField("amount", ""),
		field.String("decline").Default("").Immutable().Comment("The decline code; empty when money moved."),
		field.String("result").Default("").Immutable().Comment("The ID of what was made: ch_…, re_…, an order or a capture."),
		field.Bool("approved").Default(false).Comment("ORDER rows: the payer clicked Pay."),
		field.Time("created_at").Immutable(),
	}
}

func (SandboxPayment) Indexes() []ent.Index {
	return []ent.Index{index.Fields("kind", "ref")}
}

func (SandboxPayment) Interceptors() []ent.Interceptor { return systemRows.interceptors() }
func (SandboxPayment) Hooks() []ent.Hook               { return systemRows.hooks() }

func (SandboxPayment) Annotations() []schema.Annotation {
	return append(systemRows.annotations(), entgql.Skip(entgql.SkipAll))
}
