// Package checkout serves the PayPal-style redirect payment flow: the
// provider's signed webhook that confirms a checkout, and the sandbox
// provider's own payment page.
package checkout

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/clock"
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">".
const SignatureHeader = "Clnd-Signature"

// Tolerance is how old a signed webhook may be (against replays).
const Tolerance = 5 * time.Minute

// Event is what a provider sends.
type Event struct {
	ID       string `json:"id"`
	Type     string `json:"type"` // checkout.completed or checkout.canceled
	Checkout string `json:"checkout"`
}

// Handler receives webhooks and serves the sandbox payment page.
type Handler struct {
	Client *ent.Client
	Clock  clock.Clock
	Secret []byte
	Log    *slog.Logger
}

// Sign returns the signature header value for a body at a time.
func Sign(secret, body []byte, at time.Time) string {
	t := strconv.FormatInt(at.Unix(), 10)
	return "t=" + t + ",v1=" + mac(secret, t, body)
}

func mac(secret []byte, t string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (h *Handler) verify(header string, body []byte) error {
	var t, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(t, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("malformed signature")
	}
	// Real time, not the business clock: this guards against replays of
	// captured requests.
	if age := clock.Wall().Sub(time.Unix(unix, 0)); age > Tolerance || age < -Tolerance {
		return fmt.Errorf("signature too old")
	}
	if !hmac.Equal([]byte(mac(h.Secret, t, body)), []byte(sig)) {
		return fmt.Errorf("bad signature")
	}
	return nil
}

// Webhook is POST /webhooks/payments/sandbox. A verified event is applied
// exactly once (a repeat finds the checkout already settled) and answered
// 200; anything unverifiable is 400 and changes nothing.
func (h *Handler) Webhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := h.verify(r.Header.Get(SignatureHeader), body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Checkout == "" {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	if err := h.apply(r.Context(), ev); err != nil {
		h.Log.Error("applying a payment webhook", "event", ev.ID, "checkout", ev.Checkout, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError) // the provider retries
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) apply(ctx context.Context, ev Event) error {
	ctx = clock.NewContext(ctx, h.Clock)
	tx, err := h.Client.Tx(ctx)
	if err != nil {
		return err
	}
	switch ev.Type {
	case "checkout.completed":
		_, err = accounts.CompleteCheckout(ctx, tx, ev.Checkout)
	case "checkout.canceled":
		err = accounts.CancelCheckout(ctx, tx, ev.Checkout)
	default:
		err = nil // not ours to handle; acknowledged so it is not resent
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
