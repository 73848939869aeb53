package invoicepdf

import (
	"context"
	"net/http"
	"strings"

	"clnd/ent"
	"clnd/ent/invoice"
	"clnd/ent/invoiceline"
	"clnd/internal/clock"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// PathPrefix is where invoices are downloaded: /invoices/<id>.pdf.
const PathPrefix = "/invoices/"

// Handler serves GET /invoices/<id>.pdf to whoever holds a signed link
// that has not expired (Invoice.downloadURL), and to the invoice's owner or
// an operator by their bearer token (through the same tenant rules as every
// query). Anyone else, anonymous callers and wrong or expired signatures
// included, gets 404: not even whether the invoice exists is told. The PDF
// names issuer as the invoice's issuer.
func Handler(client *ent.Client, links Links, issuer Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, PathPrefix), ".pdf")
		if !ok || id == "" {
			http.NotFound(w, r)
			return
		}
		ctx, ok := reader(r, links, id)
		if !ok {
			http.NotFound(w, r)
			return
		}
		inv, err := client.Invoice.Query().
			Where(invoice.ID(id)).
			WithReseller().
			WithLines(func(q *ent.InvoiceLineQuery) {
				q.Order(invoiceline.ByPosition()).WithItems()
			}).
			Only(ctx)
		if err != nil {
			if store.NotAnswered(r.Context(), err) {
				// The database did not answer (in time): whether the
				// invoice exists is not known, so this is no 404.
				http.Error(w, "the database did not answer: retry later", http.StatusServiceUnavailable)
				return
			}
			http.NotFound(w, r)
			return
		}
		body, err := Render(inv, issuer)
		if err != nil {
			http.Error(w, "the PDF could not be made", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", `inline; filename="invoice-`+inv.Number+`.pdf"`)
		w.Header().Set("Cache-Control", "private, no-store")
		_, _ = w.Write(body)
	})
}

// reader is the context to read the invoice with: the system's when the
// link's signature holds (it names this one invoice), else the caller's,
// whose tenant rules decide; ok is false when neither may read it.
func reader(r *http.Request, links Links, id string) (ctx context.Context, ok bool) {
	if links.valid(id, r.URL.Query(), clock.Now(r.Context())) {
		return viewer.SystemContext(r.Context()), true
	}
	v := viewer.FromContext(r.Context())
	return r.Context(), v.Role == viewer.Reseller || v.Role == viewer.Operator
}
