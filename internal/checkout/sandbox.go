package checkout

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"

	"clnd/ent/checkout"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/payments"
	"clnd/internal/reqinfo"
	"clnd/internal/viewer"
)

// SandboxPath is where the sandbox provider's payment page lives.
const SandboxPath = "/sandbox/checkout/"

var page = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox checkout</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:4rem auto}button{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}</style>
</head><body>
<h1>Sandbox checkout</h1>
<p>This is clnd's test payment provider. No money moves.</p>
<p>Amount: <strong>${{.Amount}}</strong></p>
{{if eq .Status "PENDING"}}
<form method="post" action="{{.Path}}/pay" style="display:inline"><button type="submit">Pay</button></form>
<form method="post" action="{{.Path}}/cancel" style="display:inline"><button type="submit">Cancel</button></form>
{{else}}<p>This checkout is <strong>{{.Status}}</strong>.</p>{{end}}
<p><a href="{{.Back}}">Back to the dashboard</a></p>
</body></html>`))

// SandboxPage serves GET /sandbox/checkout/<id> (the page a person is sent
// to) and POST /sandbox/checkout/<id>/pay or /cancel (its buttons). A button
// makes the sandbox provider send clnd its signed webhook, just as PayPal
// would, and then sends the person back through clnd's return or cancel
// page, as PayPal sends the payer back.
func (h *Handler) SandboxPage(w http.ResponseWriter, r *http.Request) {
	sb, ok := h.Provider.(*payments.SandboxCheckout)
	if !ok {
		http.NotFound(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, SandboxPath)
	id, action, _ := strings.Cut(rest, "/")
	ctx := clock.NewContext(viewer.SystemContext(r.Context()), h.Clock)
	c, err := h.Accounts.Client.Checkout.Query().Where(checkout.ID(id), checkout.Provider(sb.Name())).Only(ctx)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodPost {
		kind, back := map[string]string{"pay": "checkout.completed", "cancel": "checkout.canceled"}[action], ReturnPage(c.ID)
		if kind == "" {
			http.NotFound(w, r)
			return
		}
		if action == "cancel" {
			back = CancelPage(c.ID)
		}
		body, _ := json.Marshal(Event{ID: ids.New("evt"), Type: kind, Checkout: c.ID})
		req := httptest.NewRequest(http.MethodPost, "/webhooks/payments/sandbox", bytes.NewReader(body)).WithContext(r.Context())
		req.Header.Set(SignatureHeader, Sign(sb.Secret, body, clock.Wall()))
		rec := httptest.NewRecorder()
		h.Webhook(rec, req)
		if rec.Code != http.StatusOK {
			http.Error(w, "the payment could not be confirmed; try again", http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if r.Method != http.MethodGet || action != "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, map[string]any{"Amount": c.Amount.String(), "Status": string(c.Status), "Path": SandboxPath + c.ID,
		"Back": dashboard(c, reqinfo.FromContext(r.Context()).Origin)})
}
