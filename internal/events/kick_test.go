package events_test

import (
	"fmt"
	"testing"
	"time"

	"clnd/ent/webhookdelivery"
	"clnd/internal/apitest"
	"clnd/internal/events"
	"clnd/internal/viewer"
)

// Review 2 finding 1: deliveries past Kick's cap must not wait their
// wall-time backoff after the test clock moved past their retry.
func TestKickLeavesNoneBehind(t *testing.T) {
	defer events.SetKickLimitForTest(2)()
	e := apitest.New(t, "sqlite", allowPrivate)
	r := e.Register("zz-kick")
	rcv := newReceiver(t, func(int) int { return 500 })
	ep := create(t, e, r.Token, rcv.URL(), events.LicenseAdded)
	for i := 0; i < 3; i++ {
		e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 50+i), "CLOUDLINUX_OS", "")
	}
	sys := viewer.SystemContext(e.Ctx())
	q := func(attempts int) []string {
		ds, err := e.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep.ID), webhookdelivery.AttemptsGTE(attempts)).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s:%d", d.ID, d.Attempts))
		}
		return out
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(q(1)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("first attempts: %v", q(0))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ds, _ := e.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep.ID)).All(sys)
	var last time.Time
	for _, d := range ds {
		if d.NextAttemptAt != nil && d.NextAttemptAt.After(last) {
			last = *d.NextAttemptAt
		}
	}
	advance(t, e, last.Add(10*time.Minute))
	deadline = time.Now().Add(10 * time.Second)
	for len(q(2)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the clock moved past every retry, second attempts: %v of %v", q(2), q(0))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
