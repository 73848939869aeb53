package checkout

import (
	"html/template"
	"net/http"
	"strings"

	"clnd/ent"
	"clnd/ent/checkout"
	"clnd/internal/accounts"
	"clnd/internal/reqinfo"
)

// ReturnPage and CancelPage are clnd's pages a provider sends the payer
// back to.
func ReturnPage(id string) string { return accounts.CheckoutPagePrefix + id + accounts.ReturnPath }
func CancelPage(id string) string { return accounts.CheckoutPagePrefix + id + accounts.CancelPath }

var outcome = template.Must(template.New("outcome").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:4rem auto}</style>
</head><body>
<h1>Checkout {{.Status}}</h1>
<p>{{.Message}}</p>
<p><a href="{{.Back}}">Back to the dashboard</a></p>
</body></html>`))

// dashboard is where a checkout's pages link back to: the dashboard page
// the checkout named for its outcome (returnURL when money came or is on
// its way, cancelURL otherwise), else the other one, else clnd's own start
// page (GraphiQL) on origin. Both URLs were checked against the allowed
// origins when the checkout started.
func dashboard(c *ent.Checkout, origin string) string {
	first, second := c.CancelURL, c.ReturnURL
	if c.Status == checkout.StatusCOMPLETED || c.Status == checkout.StatusPENDING {
		first, second = second, first
	}
	switch {
	case first != "":
		return first
	case second != "":
		return second
	}
	return origin + "/"
}

// Pages serves GET /checkout/<id>/return (the payer approved: capture now,
// whichever of this and the provider's webhook comes first) and GET
// /checkout/<id>/cancel, then redirects to the dashboard's returnURL or
// cancelURL (allowed origins only, checked when the checkout started), or
// shows the outcome when the checkout named none. The checkout's ID is the
// only input: the page is safe to load twice and reveals nothing but the
// outcome.
func (h *Handler) Pages(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, accounts.CheckoutPagePrefix)
	id, action, _ := strings.Cut(rest, "/")
	ctx := h.context(r)
	var c *ent.Checkout
	var err error
	switch "/" + action {
	case accounts.ReturnPath:
		c, err = h.Accounts.CaptureCheckout(ctx, id)
	case accounts.CancelPath:
		c, err = h.Accounts.CancelCheckout(ctx, id)
	default:
		http.NotFound(w, r)
		return
	}
	if ent.IsNotFound(err) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.Log.ErrorContext(r.Context(), "a checkout return page", "checkout", id, "err", err)
		http.Error(w, "the checkout could not be completed; try again", http.StatusBadGateway)
		return
	}
	// The dashboard's return page for money received or on its way, its
	// cancel page for everything that took none.
	back := c.CancelURL
	if c.Status == checkout.StatusCOMPLETED || c.Status == checkout.StatusPENDING {
		back = c.ReturnURL
	}
	if back != "" {
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	msg := map[checkout.Status]string{
		checkout.StatusCOMPLETED: "The payment was received and credited to your balance. You can close this page.",
		checkout.StatusPENDING:   "The payment is being confirmed; your balance shows it as soon as it is.",
		checkout.StatusCANCELED:  "The checkout was canceled; nothing was charged.",
		checkout.StatusFAILED:    "The payment did not go through; nothing was charged.",
		checkout.StatusEXPIRED:   "The checkout expired; nothing was charged.",
	}[c.Status]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = outcome.Execute(w, map[string]any{"Status": strings.ToLower(string(c.Status)), "Message": msg,
		"Back": dashboard(c, reqinfo.FromContext(r.Context()).Origin)})
}
