package invoicepdf

import (
	"net/http"
	"strings"

	"clnd/ent"
	"clnd/ent/invoice"
	"clnd/ent/invoiceline"
	"clnd/internal/viewer"
)

// PathPrefix is where invoices are downloaded: /invoices/<id>.pdf.
const PathPrefix = "/invoices/"

// Handler serves GET /invoices/<id>.pdf to the invoice's owner or an
// operator (the request's bearer token decides, through the same tenant
// rules as every query). Anyone else, anonymous callers included, gets 404:
// not even whether the invoice exists is told.
func Handler(client *ent.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, PathPrefix), ".pdf")
		v := viewer.FromContext(r.Context())
		if !ok || id == "" || (v.Role != viewer.Reseller && v.Role != viewer.Operator) {
			http.NotFound(w, r)
			return
		}
		inv, err := client.Invoice.Query().
			Where(invoice.ID(id)).
			WithReseller().
			WithLines(func(q *ent.InvoiceLineQuery) {
				q.Order(invoiceline.ByPosition()).WithItems()
			}).
			Only(r.Context())
		if err != nil {
			http.NotFound(w, r)
			return
		}
		body, err := Render(inv)
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
