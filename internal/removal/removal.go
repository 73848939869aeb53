// Package removal carries, in a context, the one exception to "removed rows
// are hidden": a read that names a removed row on purpose. Licenses, backups
// and server accounts are removed by stamping removed_at, not deleted, so
// that the invoices that billed them can still point at them; every read
// hides them (ent/schema's removedAtMixin) unless the context says otherwise.
package removal

import "context"

type key struct{}

// Include lets the next read made with ctx see removed rows: node(id:),
// nodes(ids:), an invoice item's license, backup or server account. The
// reads beneath it (eager-loaded edges of the rows it returns) hide removed
// rows again, so a removed license's backup list never fills with history.
func Include(ctx context.Context) context.Context {
	return context.WithValue(ctx, key{}, true)
}

// Included reports whether the read made with ctx sees removed rows.
func Included(ctx context.Context) bool {
	v, _ := ctx.Value(key{}).(bool)
	return v
}

// Beneath is the context of the reads beneath a read made with ctx.
func Beneath(ctx context.Context) context.Context {
	if !Included(ctx) {
		return ctx
	}
	return context.WithValue(ctx, key{}, false)
}
