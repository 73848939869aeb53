package schema

import (
	"context"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"

	entc "clnd/ent"
	"clnd/ent/activationkey"
	"clnd/ent/intercept"
	"clnd/ent/invoiceitem"
	"clnd/ent/invoiceline"
	"clnd/ent/paymentmethod"
)

// Ordering rules shared by both executors; docs/schema.md ("Ordering") states
// them for clients and for the read compiler.

// bytewise makes a string column compare by its UTF-8 bytes (code point
// order, case-sensitive) on every database, so that ORDER BY and cursor
// predicates agree between SQLite and PostgreSQL whatever the database's
// default collation: COLLATE "C" on PostgreSQL. SQLite's default, BINARY,
// already compares bytes, and Atlas writes no collation for SQLite columns.
// Atlas does not diff column collations either: the PostgreSQL migrations
// set them by hand and store's TestColumnCollations checks they match.
func bytewise() schema.Annotation { return entsql.Annotation{Collation: "C"} }

// Plain (non-connection) lists get one defined order, the order they were
// written in, on every read path: entgql's eager loading (CollectFields) and
// the lazy edge resolvers both end in a query of the child type, which these
// interceptors order. The terms are appended after any explicit order, so
// they only decide what nothing else does.

func (InvoiceLine) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{intercept.TraverseInvoiceLine(func(ctx context.Context, q *entc.InvoiceLineQuery) error {
		if readsRows(ctx) {
			q.Order(invoiceline.ByPosition(), invoiceline.ByID())
		}
		return nil
	})}
}

// IDs are monotonic ULIDs, so ID order is insertion order.
func (InvoiceItem) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{intercept.TraverseInvoiceItem(func(ctx context.Context, q *entc.InvoiceItemQuery) error {
		if readsRows(ctx) {
			q.Order(invoiceitem.ByID())
		}
		return nil
	})}
}

func (ActivationKey) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{intercept.TraverseActivationKey(func(ctx context.Context, q *entc.ActivationKeyQuery) error {
		if readsRows(ctx) {
			q.Order(activationkey.ByCreatedAt(), activationkey.ByID())
		}
		return nil
	})}
}

func (PaymentMethod) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{intercept.TraversePaymentMethod(func(ctx context.Context, q *entc.PaymentMethodQuery) error {
		if readsRows(ctx) {
			q.Order(paymentmethod.ByCreatedAt(), paymentmethod.ByID())
		}
		return nil
	})}
}

// readsRows reports whether the query returns rows in an order a caller
// sees. Counts, existence checks and ID lookups are left alone: an ORDER BY
// on a column a DISTINCT id list does not select is an error on PostgreSQL.
func readsRows(ctx context.Context) bool {
	qc := ent.QueryFromContext(ctx)
	if qc == nil {
		return false
	}
	switch qc.Op {
	case ent.OpQueryAll, ent.OpQueryFirst, ent.OpQueryOnly:
		return true
	}
	return false
}

// noOrderBy leaves out the <T>Order input and <T>OrderField enum of a type
// whose lists take no orderBy argument, so that the schema offers no input
// nothing accepts. The Go order options (ent.With<T>Order) stay: entgql
// generates them from the fields' OrderField annotations, and resolvers
// order with them.
var noOrderBy = entgql.Skip(entgql.SkipOrderField)
