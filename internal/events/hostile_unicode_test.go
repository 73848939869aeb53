package events_test

import (
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/events"
)

// TestHostileUnicodeObjectSignedAsSent: an object with non-ASCII text,
// HTML characters, a NUL-free control character and a long field arrives
// with a signature over exactly the bytes received, and its text intact.
func TestHostileUnicodeObjectSignedAsSent(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, nil)
		r := e.Register("unicode")
		ep := create(t, e, r.Token, rcv.URL(), events.ServerAccountCreated)
		company := "Ünïcødé <b>&amp;</b> \u2028 🚀 \"quoted\" \\ " + strings.Repeat("ж", 150)
		e.Query(r.Token, `mutation($c: String) { createServerAccount(input: {login: "uni", firstName: "Zoë", lastName: "Ø", company: $c, email: "ops@example.com", licenseLimit: 1}) { serverAccount { id } } }`,
			map[string]any{"c": company}, nil)
		got := rcv.wait(1)
		if !events.Verify(got[0].Signature, got[0].Body, ep.Secret, time.Now(), 5*time.Minute) {
			t.Fatalf("signature %q does not verify over the body received: %s", got[0].Signature, got[0].Body)
		}
		ev := got[0].event(t)
		if ev.Object["company"] != company || ev.Object["firstName"] != "Zoë" {
			t.Fatalf("object %v, want company %q", ev.Object, company)
		}
	}, allowPrivate)
}
