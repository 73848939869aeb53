package events_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/events"
	"clnd/internal/sealed"
	"clnd/internal/server"
)

// allowPrivate lets deliveries reach the tests' receivers on loopback.
var allowPrivate = apitest.WithConfig(func(c *server.Config) { c.Webhooks.AllowPrivate = true })

// received is one request a receiver got.
type received struct {
	Body      []byte
	Signature string
	At        time.Time
}

// event is a delivery's body.
func (r received) event(t *testing.T) (out struct {
	ID, Type, CreatedAt, ResellerID, ObjectID string
	Object                                    map[string]any
}) {
	t.Helper()
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("delivery body is not JSON: %v: %s", err, r.Body)
	}
	return out
}

// receiver is a webhook endpoint: it records what it gets and answers
// with the status answer returns (200 when answer is nil).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer atomic.Pointer[func(n int) int] // n counts requests from 1; nil: 200
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{t: t}
	r.setAnswer(answer)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Body: body, Signature: req.Header.Get(events.SignatureHeader), At: time.Now()})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusOK
		if answer := r.answer.Load(); answer != nil && *answer != nil {
			code = (*answer)(n)
		}
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "http://example.com/elsewhere")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(answer func(n int) int) { r.answer.Store(&answer) }

func (r *receiver) URL() string { return r.srv.URL + "/hooks" }

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// wait returns the requests once there are at least n, failing after 15 s.
func (r *receiver) wait(n int) []received {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := r.requests()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("receiver got %d requests, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiet asserts that no more than n requests arrive within d.
func (r *receiver) quiet(n int, d time.Duration) {
	r.t.Helper()
	time.Sleep(d)
	if got := r.requests(); len(got) > n {
		r.t.Fatalf("receiver got %d requests, want still %d", len(got), n)
	}
}

const createEndpoint = `mutation($in: CreateWebhookEndpointInput!) {
	createWebhookEndpoint(input: $in) { secret endpoint { id url events enabled description } } }`

type endpoint struct{ ID, Secret string }

func create(t *testing.T, e *apitest.Env, token, url string, types ...string) endpoint {
	t.Helper()
	var out struct {
		CreateWebhookEndpoint struct {
			Secret   string
			Endpoint struct{ ID string }
		}
	}
	e.Query(token, createEndpoint, map[string]any{"in": map[string]any{"url": url, "events": types}}, &out)
	if !strings.HasPrefix(out.CreateWebhookEndpoint.Secret, "whsec_") {
		t.Fatalf("secret %q", out.CreateWebhookEndpoint.Secret)
	}
	return endpoint{ID: out.CreateWebhookEndpoint.Endpoint.ID, Secret: out.CreateWebhookEndpoint.Secret}
}

type delivery struct {
	ID, Status, Error          string
	Attempts                   int
	ResponseStatus, DurationMs *int
	NextAttemptAt, DeliveredAt *time.Time
	Event                      struct{ ID, Type string }
	Endpoint                   struct{ ID string }
}

const deliveriesQuery = `query($where: WebhookDeliveryFilter) { webhookDeliveries(first: 100, where: $where) {
	edges { node { id status error attempts responseStatus durationMs nextAttemptAt deliveredAt event { id type } endpoint { id } } } } }`

func deliveries(t *testing.T, e *apitest.Env, token string, where map[string]any) []delivery {
	t.Helper()
	var out struct {
		WebhookDeliveries struct{ Edges []struct{ Node delivery } }
	}
	e.Query(token, deliveriesQuery, map[string]any{"where": where}, &out)
	var ds []delivery
	for _, edge := range out.WebhookDeliveries.Edges {
		ds = append(ds, edge.Node)
	}
	return ds
}

// waitDelivery polls the delivery list until one matches ok.
func waitDelivery(t *testing.T, e *apitest.Env, token string, where map[string]any, ok func(delivery) bool) delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds := deliveries(t, e, token, where)
		for _, d := range ds {
			if ok(d) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery as expected; deliveries: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func advance(t *testing.T, e *apitest.Env, to time.Time) {
	t.Helper()
	e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
		map[string]any{"to": to.UTC().Format(time.RFC3339Nano)}, nil)
}

// TestWebhookDeliveredSignedOnce: an event an endpoint subscribes to arrives
// once, signed with the endpoint's secret, carrying the object; events it
// does not subscribe to do not arrive; the delivery is recorded.
func TestWebhookDeliveredSignedOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, nil)
		r := e.Register("hooked")
		ep := create(t, e, r.Token, rcv.URL(), events.LicenseAdded)
		licenseID := e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "web1")
		got := rcv.wait(1)
		if !events.Verify(got[0].Signature, got[0].Body, ep.Secret, time.Now(), 5*time.Minute) {
			t.Fatalf("signature %q does not verify", got[0].Signature)
		}
		if events.Verify(got[0].Signature, got[0].Body, "whsec_wrong", time.Now(), 5*time.Minute) {
			t.Fatal("a wrong secret verifies")
		}
		ev := got[0].event(t)
		if ev.Type != events.LicenseAdded || ev.ObjectID != licenseID || ev.Object["ip"] != "203.0.113.10" || ev.ResellerID != r.ID {
			t.Fatalf("delivered %s", got[0].Body)
		}
		// The event log has the same event.
		var log struct {
			Events struct {
				Edges []struct{ Node struct{ ID, Type string } }
			}
		}
		e.Query(r.Token, `{ events(first: 10, where: {types: ["license.added"]}) { edges { node { id type } } } }`, nil, &log)
		if len(log.Events.Edges) != 1 || log.Events.Edges[0].Node.ID != ev.ID {
			t.Fatalf("events log %+v, delivered %s", log, ev.ID)
		}
		d := waitDelivery(t, e, r.Token, map[string]any{"endpointID": ep.ID}, func(d delivery) bool { return d.Status == "SUCCEEDED" })
		if d.Attempts != 1 || d.ResponseStatus == nil || *d.ResponseStatus != 200 || d.DurationMs == nil || d.NextAttemptAt != nil ||
			d.DeliveredAt == nil || d.Event.ID != ev.ID || d.Endpoint.ID != ep.ID || d.Error != "" {
			t.Fatalf("delivery %+v", d)
		}
		// Not subscribed: removal is not delivered.
		e.Query(r.Token, `mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`, map[string]any{"id": licenseID}, nil)
		rcv.quiet(1, 700*time.Millisecond)
	}, allowPrivate)
}

// TestWebhookRetriesFollowTheTestClock: a receiver failing three times gets
// the event on the fourth attempt, each retry due by clnd's clock after the
// backoff and not before.
func TestWebhookRetriesFollowTheTestClock(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, func(n int) int {
			if n <= 3 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		r := e.Register("retried")
		ep := create(t, e, r.Token, rcv.URL(), "*")
		e.AddLicense(r.Token, "203.0.113.11", "KERNELCARE", "")
		where := map[string]any{"endpointID": ep.ID}
		wantGaps := []time.Duration{time.Minute, 4 * time.Minute, 16 * time.Minute}
		for attempt := 1; attempt <= 3; attempt++ {
			rcv.wait(attempt)
			d := waitDelivery(t, e, r.Token, where, func(d delivery) bool { return d.Attempts == attempt })
			if d.Status != "PENDING" || d.ResponseStatus == nil || *d.ResponseStatus != 500 || d.Error != "HTTP 500" || d.NextAttemptAt == nil {
				t.Fatalf("after attempt %d: %+v", attempt, d)
			}
			gap := d.NextAttemptAt.Sub(e.Clock.Now())
			if gap < wantGaps[attempt-1] || gap > wantGaps[attempt-1]*11/10 {
				t.Fatalf("after attempt %d the next is due in %s, want %s + up to 10%%", attempt, gap, wantGaps[attempt-1])
			}
			// Not before it is due, however much wall time passes.
			advance(t, e, d.NextAttemptAt.Add(-time.Second))
			rcv.quiet(attempt, 600*time.Millisecond)
			advance(t, e, *d.NextAttemptAt)
		}
		got := rcv.wait(4)
		d := waitDelivery(t, e, r.Token, where, func(d delivery) bool { return d.Status == "SUCCEEDED" })
		if d.Attempts != 4 || *d.ResponseStatus != 204 {
			t.Fatalf("final delivery %+v", d)
		}
		ids := map[string]bool{}
		for _, g := range got {
			ids[g.event(t).ID] = true
		}
		if len(ids) != 1 {
			t.Fatalf("the four attempts carried %d events", len(ids))
		}
		rcv.quiet(4, 500*time.Millisecond)
	}, allowPrivate)
}

// TestWebhookRotationKeepsBothSecrets: after a rotation every delivery is
// signed under the new and the old secret until the grace period ends, then
// under the new one only.
func TestWebhookRotationKeepsBothSecrets(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, nil)
		r := e.Register("rotator")
		ep := create(t, e, r.Token, rcv.URL(), events.LicenseAdded)
		var out struct {
			RotateWebhookEndpointSecret struct {
				Secret   string
				Endpoint struct{ PreviousSecretExpiresAt time.Time }
			}
		}
		e.Query(r.Token, `mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id, graceHours: 2}) { secret endpoint { previousSecretExpiresAt } } }`,
			map[string]any{"id": ep.ID}, &out)
		rotated := out.RotateWebhookEndpointSecret
		if rotated.Secret == ep.Secret || !rotated.Endpoint.PreviousSecretExpiresAt.Equal(e.Clock.Now().Add(2*time.Hour)) {
			t.Fatalf("rotation %+v", rotated)
		}
		e.AddLicense(r.Token, "203.0.113.12", "CLOUDLINUX_OS", "")
		got := rcv.wait(1)[0]
		for name, secret := range map[string]string{"old": ep.Secret, "new": rotated.Secret} {
			if !events.Verify(got.Signature, got.Body, secret, time.Now(), 5*time.Minute) {
				t.Fatalf("during the grace period the %s secret does not verify %q", name, got.Signature)
			}
		}
		advance(t, e, rotated.Endpoint.PreviousSecretExpiresAt)
		e.AddLicense(r.Token, "203.0.113.13", "CLOUDLINUX_OS", "")
		got = rcv.wait(2)[1]
		if !events.Verify(got.Signature, got.Body, rotated.Secret, time.Now(), 5*time.Minute) ||
			events.Verify(got.Signature, got.Body, ep.Secret, time.Now(), 5*time.Minute) {
			t.Fatalf("after the grace period: signature %q", got.Signature)
		}
		if strings.Count(got.Signature, "v1=") != 1 {
			t.Fatalf("after the grace period: %q", got.Signature)
		}
	}, allowPrivate)
}

// TestWebhookPrivateAddressRefused: without --webhooks-allow-private an
// address literal that is not public is refused when the endpoint is made,
// and a host name resolving to loopback is refused at delivery, before any
// connection.
func TestWebhookPrivateAddressRefused(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, nil)
		r := e.Register("private")
		res := e.Expect("BAD_USER_INPUT", "url", r.Token, createEndpoint, map[string]any{"in": map[string]any{
			"url": rcv.URL(), "events": []string{"*"}}})
		if !strings.Contains(res.Errors[0].Message, "loopback") {
			t.Fatalf("message %q", res.Errors[0].Message)
		}
		for _, url := range []string{"http://10.1.2.3/x", "http://[::1]:8080/x", "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/"} {
			e.Expect("BAD_USER_INPUT", "url", r.Token, createEndpoint, map[string]any{"in": map[string]any{"url": url, "events": []string{"*"}}})
		}
		port := rcv.srv.URL[strings.LastIndex(rcv.srv.URL, ":")+1:]
		ep := create(t, e, r.Token, "http://localhost:"+port+"/hooks", "*")
		e.AddLicense(r.Token, "203.0.113.14", "CLOUDLINUX_OS", "")
		d := waitDelivery(t, e, r.Token, map[string]any{"endpointID": ep.ID}, func(d delivery) bool { return d.Attempts == 1 })
		if d.Status != "PENDING" || d.ResponseStatus != nil || !strings.Contains(d.Error, "refused address") || !strings.Contains(d.Error, "--webhooks-allow-private") {
			t.Fatalf("delivery %+v", d)
		}
		rcv.quiet(0, 300*time.Millisecond)
	})
}

// TestWebhookRedirectNotFollowed: a 3xx answer is a failed attempt.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, func(int) int { return http.StatusFound })
		r := e.Register("redirected")
		ep := create(t, e, r.Token, rcv.URL(), "*")
		e.AddLicense(r.Token, "203.0.113.15", "CLOUDLINUX_OS", "")
		d := waitDelivery(t, e, r.Token, map[string]any{"endpointID": ep.ID}, func(d delivery) bool { return d.Attempts == 1 })
		if d.Status != "PENDING" || *d.ResponseStatus != 302 || !strings.Contains(d.Error, "redirects are not followed") {
			t.Fatalf("delivery %+v", d)
		}
		rcv.quiet(1, 300*time.Millisecond)
	}, allowPrivate)
}

// TestWebhookEndpointDisabledAfterThreeDays: a receiver that never answers
// 2xx gets 12 attempts over about three days; then the delivery is FAILED,
// the endpoint disabled with a reason and a webhook_endpoint.disabled event,
// and redelivery is a CONFLICT until it is enabled again.
func TestWebhookEndpointDisabledAfterThreeDays(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
		r := e.Register("failing")
		ep := create(t, e, r.Token, rcv.URL(), events.LicenseAdded)
		e.AddLicense(r.Token, "203.0.113.16", "CLOUDLINUX_OS", "")
		where := map[string]any{"endpointID": ep.ID}
		start := e.Clock.Now()
		var d delivery
		for attempt := 1; attempt <= 12; attempt++ {
			rcv.wait(attempt)
			d = waitDelivery(t, e, r.Token, where, func(d delivery) bool { return d.Attempts == attempt })
			if attempt < 12 {
				advance(t, e, *d.NextAttemptAt)
			}
		}
		if d.Status != "FAILED" || d.NextAttemptAt != nil {
			t.Fatalf("after 12 attempts: %+v", d)
		}
		if spent := e.Clock.Now().Sub(start); spent < 72*time.Hour || spent > 90*time.Hour {
			t.Fatalf("the attempts spanned %s, want about three days", spent)
		}
		var out struct {
			WebhookEndpoints struct {
				Edges []struct {
					Node struct {
						ID, DisabledReason string
						Enabled            bool
					}
				}
			}
			Events struct {
				Edges []struct {
					Node struct {
						ObjectID string
						Object   map[string]any
					}
				}
			}
		}
		e.Query(r.Token, `{ webhookEndpoints(first: 10) { edges { node { id enabled disabledReason } } }
			events(first: 10, where: {types: ["webhook_endpoint.disabled"]}) { edges { node { objectID object } } } }`, nil, &out)
		got := out.WebhookEndpoints.Edges[0].Node
		if got.Enabled || got.DisabledReason == "" {
			t.Fatalf("endpoint %+v", got)
		}
		if len(out.Events.Edges) != 1 || out.Events.Edges[0].Node.ObjectID != ep.ID || out.Events.Edges[0].Node.Object["enabled"] != false {
			t.Fatalf("disabled events %+v", out.Events)
		}
		e.Expect("CONFLICT", "", r.Token, `mutation($id: ID!) { redeliverWebhook(deliveryID: $id) { delivery { id } } }`, map[string]any{"id": d.ID})
		// Enabled again, a redelivery is attempted at once.
		e.Query(r.Token, `mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { endpoint { enabled failingSince } } }`,
			map[string]any{"id": ep.ID}, nil)
		rcv.setAnswer(nil)
		e.Query(r.Token, `mutation($id: ID!) { redeliverWebhook(deliveryID: $id) { delivery { id status attempts } } }`, map[string]any{"id": d.ID}, nil)
		waitDelivery(t, e, r.Token, where, func(d delivery) bool { return d.Status == "SUCCEEDED" })
	}, allowPrivate)
}

// TestWebhookTenantIsolation: a reseller sees and touches only its own
// events, endpoints and deliveries (another's are NOT_FOUND, like IDs that
// do not exist); an operator's global endpoint receives every reseller's
// events and is invisible to resellers; operators see everything.
func TestWebhookTenantIsolation(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcvA, rcvB, rcvOp := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
		a, b := e.Register("alice"), e.Register("bob")
		epA := create(t, e, a.Token, rcvA.URL(), events.LicenseAdded)
		epB := create(t, e, b.Token, rcvB.URL(), events.LicenseAdded)
		global := create(t, e, e.OperatorToken, rcvOp.URL(), events.LicenseAdded)
		e.AddLicense(a.Token, "203.0.113.20", "CLOUDLINUX_OS", "")
		e.AddLicense(b.Token, "203.0.113.21", "CLOUDLINUX_OS", "")
		rcvA.wait(1)
		rcvB.wait(1)
		rcvOp.wait(2)
		rcvA.quiet(1, 300*time.Millisecond)
		if a, b := rcvA.requests()[0].event(t).ResellerID, rcvB.requests()[0].event(t).ResellerID; a == b {
			t.Fatalf("A and B received the same reseller's events")
		}
		bDelivery := waitDelivery(t, e, b.Token, nil, func(d delivery) bool { return d.Status == "SUCCEEDED" })
		opDeliveries := deliveries(t, e, e.OperatorToken, map[string]any{"endpointID": global.ID})
		if len(opDeliveries) != 2 {
			t.Fatalf("the global endpoint has %d deliveries, want 2", len(opDeliveries))
		}
		bIDs := []string{epB.ID, bDelivery.ID, bDelivery.Event.ID, global.ID, opDeliveries[0].ID, opDeliveries[1].ID}
		for _, id := range bIDs {
			r := e.Do(apitest.Request{Token: a.Token, Query: `query($id: ID!) { node(id: $id) { id } }`, Variables: map[string]any{"id": id}})
			if r.Code() != "NOT_FOUND" {
				t.Fatalf("A reads %s: %s", id, r.Raw)
			}
		}
		lists := e.Do(apitest.Request{Token: a.Token, Query: `{
			events(first: 100) { edges { node { id } } }
			webhookEndpoints(first: 100) { edges { node { id } } }
			webhookDeliveries(first: 100) { edges { node { id event { id } endpoint { id } } } } }`})
		if len(lists.Errors) > 0 {
			t.Fatal(string(lists.Raw))
		}
		for _, id := range apitest.CollectIDs(lists.Data) {
			for _, bid := range bIDs {
				if id == bid {
					t.Fatalf("A lists %s: %s", id, lists.Raw)
				}
			}
		}
		if !strings.Contains(string(lists.Data), epA.ID) {
			t.Fatalf("A does not list its own endpoint: %s", lists.Raw)
		}
		for _, m := range []string{
			`mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: false}) { endpoint { id } } }`,
			`mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id}) { secret } }`,
			`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedID } }`,
		} {
			for _, id := range []string{epB.ID, global.ID} {
				e.Expect("NOT_FOUND", "", a.Token, m, map[string]any{"id": id})
			}
		}
		for _, id := range []string{bDelivery.ID, opDeliveries[0].ID} {
			e.Expect("NOT_FOUND", "", a.Token, `mutation($id: ID!) { redeliverWebhook(deliveryID: $id) { delivery { id } } }`, map[string]any{"id": id})
		}
		e.Expect("BAD_USER_INPUT", "resellerID", a.Token, createEndpoint, map[string]any{"in": map[string]any{
			"url": rcvA.URL(), "events": []string{"*"}, "resellerID": b.ID}})
		// B's endpoint still works.
		e.AddLicense(b.Token, "203.0.113.22", "CLOUDLINUX_OS", "")
		rcvB.wait(2)
		// Operators see every reseller's events.
		var all struct {
			Events struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		e.Query(e.OperatorToken, `{ events(first: 100, where: {types: ["license.added"]}) { edges { node { id } } } }`, nil, &all)
		if len(all.Events.Edges) != 3 {
			t.Fatalf("the operator lists %d license.added events, want 3", len(all.Events.Edges))
		}
		// ... or one reseller's; a reseller naming another sees nothing of it.
		e.Query(e.OperatorToken, `query($b: ID!) { events(first: 100, where: {types: ["license.added"], resellerID: $b}) { edges { node { id } } } }`,
			map[string]any{"b": b.ID}, &all)
		if len(all.Events.Edges) != 2 {
			t.Fatalf("the operator lists %d of B's license.added events, want 2", len(all.Events.Edges))
		}
		e.Query(a.Token, `query($b: ID!) { events(first: 100, where: {resellerID: $b}) { edges { node { id } } } }`,
			map[string]any{"b": b.ID}, &all)
		if len(all.Events.Edges) != 0 {
			t.Fatalf("A lists %d of B's events by naming B", len(all.Events.Edges))
		}
	}, allowPrivate)
}

// TestWebhookEndpointInput: the coded errors of endpoint management.
func TestWebhookEndpointInput(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("inputs")
		bad := func(field string, in map[string]any) {
			t.Helper()
			e.Expect("BAD_USER_INPUT", field, r.Token, createEndpoint, map[string]any{"in": in})
		}
		bad("url", map[string]any{"url": "not a url", "events": []string{"*"}})
		bad("url", map[string]any{"url": "ftp://example.com/x", "events": []string{"*"}})
		bad("url", map[string]any{"url": "https://user:pw@example.com/x", "events": []string{"*"}})
		bad("url", map[string]any{"url": "https://example.com/" + strings.Repeat("x", 2100), "events": []string{"*"}})
		bad("events", map[string]any{"url": "https://example.com/x", "events": []string{}})
		bad("events", map[string]any{"url": "https://example.com/x", "events": []string{"license.exploded"}})
		bad("description", map[string]any{"url": "https://example.com/x", "events": []string{"*"}, "description": strings.Repeat("d", 501)})
		e.Expect("BAD_USER_INPUT", "graceHours", r.Token, `mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id, graceHours: 500}) { secret } }`,
			map[string]any{"id": create(t, e, r.Token, "https://example.com/ok", "*").ID})
		for i := 1; i < events.MaxEndpoints; i++ {
			create(t, e, r.Token, "https://example.com/ok", events.LicenseAdded, events.LicenseAdded)
		}
		e.Expect("LIMIT_REACHED", "", r.Token, createEndpoint, map[string]any{"in": map[string]any{"url": "https://example.com/x", "events": []string{"*"}}})
		var list struct {
			WebhookEndpoints struct {
				Edges []struct{ Node struct{ Events []string } }
			}
		}
		e.Query(r.Token, `{ webhookEndpoints(first: 100) { edges { node { events } } } }`, nil, &list)
		if got := list.WebhookEndpoints.Edges[1].Node.Events; len(got) != 1 {
			t.Fatalf("duplicate types kept: %v", got)
		}
		e.Expect("NOT_FOUND", "", r.Token, `mutation { deleteWebhookEndpoint(id: "whe_01JD3Q0000000000000000000") { deletedID } }`, nil)
		// A leaked API token cannot plant a webhook, re-point one or take its
		// secret: those need a login session.
		apiToken := e.APIToken(r.Token, "READ_WRITE")
		e.Expect("FORBIDDEN", "", apiToken, createEndpoint, map[string]any{"in": map[string]any{"url": "https://example.com/x", "events": []string{"*"}}})
		var ids struct {
			WebhookEndpoints struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		e.Query(apiToken, `{ webhookEndpoints(first: 1) { edges { node { id } } } }`, nil, &ids)
		epID := ids.WebhookEndpoints.Edges[0].Node.ID
		e.Expect("FORBIDDEN", "", apiToken, `mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, url: "https://evil.example/x"}) { endpoint { id } } }`, map[string]any{"id": epID})
		e.Expect("FORBIDDEN", "", apiToken, `mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id}) { secret } }`, map[string]any{"id": epID})
		e.Query(apiToken, `mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: false}) { endpoint { id } } }`, map[string]any{"id": epID}, nil)
		e.Expect("BAD_USER_INPUT", "graceHours", r.Token, `mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id, graceHours: 5124096}) { secret } }`, map[string]any{"id": epID})
		e.Expect("BAD_USER_INPUT", "where.types", r.Token, `{ events(first: 1, where: {types: ["license.exploded"]}) { totalCount } }`, nil)
		e.Expect("NOT_FOUND", "", e.OperatorToken, createEndpoint, map[string]any{"in": map[string]any{
			"url": "https://example.com/x", "events": []string{"*"}, "resellerID": "rsl_01JD3Q0000000000000000000"}})
	})
	// Outside sandbox mode http is refused, and without CLND_SECRETS_KEY no
	// endpoint can be made at all.
	e := apitest.New(t, "sqlite", apitest.WithoutSandbox())
	r := e.Register("production")
	res := e.Expect("FORBIDDEN", "", r.Token, createEndpoint, map[string]any{"in": map[string]any{"url": "https://example.com/x", "events": []string{"*"}}})
	if !strings.Contains(res.Errors[0].Message, "CLND_SECRETS_KEY") {
		t.Fatalf("message %q", res.Errors[0].Message)
	}
	keyed := apitest.New(t, "sqlite", apitest.WithoutSandbox(), apitest.WithConfig(func(c *server.Config) {
		k, err := sealed.ParseKey(strings.Repeat("ab", 32))
		if err != nil {
			t.Fatal(err)
		}
		c.Keyring = k
	}))
	r = keyed.Register("production")
	keyed.Expect("BAD_USER_INPUT", "url", r.Token, createEndpoint, map[string]any{"in": map[string]any{"url": "http://example.com/x", "events": []string{"*"}}})
	create(t, keyed, r.Token, "https://example.com/x", "*")
}

// TestWebhookTwoInstancesDeliverOnce: with two instances on one database
// (each running delivery workers), every event arrives exactly once.
func TestWebhookTwoInstancesDeliverOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		second := apitest.Reopen(t, e)
		rcv := newReceiver(t, nil)
		r := e.Register("twice")
		create(t, e, r.Token, rcv.URL(), events.LicenseAdded)
		const n = 40
		for i := 0; i < n; i++ {
			env := e
			if i%2 == 1 {
				env = second
			}
			env.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 100+i), "CLOUDLINUX_OS", "")
		}
		got := rcv.wait(n)
		rcv.quiet(n, time.Second)
		seen := map[string]bool{}
		for _, g := range got {
			id := g.event(t).ID
			if seen[id] {
				t.Fatalf("event %s delivered twice", id)
			}
			seen[id] = true
		}
	}, allowPrivate)
}

// TestStaleEventAfterTheClockMoves: advancing the sandbox clock past the
// stale window makes the server's sweep write license.stale (and deliver
// it) without waiting for its minute.
func TestStaleEventAfterTheClockMoves(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		rcv := newReceiver(t, nil)
		r := e.Register("silent")
		create(t, e, r.Token, rcv.URL(), events.LicenseStale)
		lic := e.AddLicense(r.Token, "203.0.113.30", "CLOUDLINUX_OS", "")
		if res := e.CheckInFrom("203.0.113.30", "web"); len(res.Errors) > 0 {
			t.Fatal(string(res.Raw))
		}
		advance(t, e, e.Clock.Now().Add(73*time.Hour))
		got := rcv.wait(1)[0].event(t)
		if got.Type != events.LicenseStale || got.ObjectID != lic || got.Object["status"] != "STALE" {
			t.Fatalf("delivered %+v", got)
		}
		rcv.quiet(1, 500*time.Millisecond)
	}, allowPrivate)
}

// TestWebhookPerEndpointLimit: one slow endpoint gets at most 4 attempts at
// once from an instance; the rest wait their turn and all arrive.
func TestWebhookPerEndpointLimit(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var inFlight, most atomic.Int32
		release := make(chan struct{})
		var once sync.Once
		defer once.Do(func() { close(release) })
		rcv := newReceiver(t, func(int) int {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			<-release
			return http.StatusOK
		})
		r := e.Register("slowpoke")
		create(t, e, r.Token, rcv.URL(), events.LicenseAdded)
		const n = 10
		for i := 0; i < n; i++ {
			e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 40+i), "CLOUDLINUX_OS", "")
		}
		rcv.wait(4)
		time.Sleep(1500 * time.Millisecond)
		if got := most.Load(); got != 4 {
			t.Fatalf("%d attempts at once to one endpoint, want 4", got)
		}
		once.Do(func() { close(release) })
		got := rcv.wait(n)
		ids := map[string]bool{}
		for _, g := range got {
			ids[g.event(t).ID] = true
		}
		if len(ids) != n {
			t.Fatalf("%d distinct events delivered, want %d", len(ids), n)
		}
	}, allowPrivate)
}

// TestBulkRemovalWithManyEndpoints: removing 1,000 licenses (the most one
// call takes) with 16 endpoints wanting license.removed owes 16,000
// deliveries, past one statement's parameters on both databases; the
// removal succeeds and every delivery is queued (hostile finding 11:
// INTERNAL, the licenses left in place).
func TestBulkRemovalWithManyEndpoints(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("bulky")
		for i := 0; i < events.MaxEndpoints; i++ {
			create(t, e, r.Token, fmt.Sprintf("https://example.com/%d", i), events.LicenseRemoved)
		}
		lics := make([]map[string]any, 1000)
		for i := range lics {
			lics[i] = map[string]any{"ip": fmt.Sprintf("45.10.%d.%d", i/200, 1+i%200), "type": "CLOUDLINUX_OS", "addedAt": "2026-09-01T00:00:00Z"}
		}
		var imp struct {
			ImportIPLicenses struct{ Licenses []struct{ ID string } }
		}
		e.Query(e.OperatorToken, `mutation($in: ImportIPLicensesInput!) { importIPLicenses(input: $in) { licenses { id } } }`,
			map[string]any{"in": map[string]any{"resellerID": r.ID, "licenses": lics}}, &imp)
		ids := make([]string, len(imp.ImportIPLicenses.Licenses))
		for i, l := range imp.ImportIPLicenses.Licenses {
			ids[i] = l.ID
		}
		res := e.Do(apitest.Request{Token: r.Token, Query: `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`,
			Variables: map[string]any{"ids": ids}})
		if res.Code() != "" {
			t.Fatalf("removing %d licenses with %d endpoints: %.400s", len(ids), events.MaxEndpoints, res.Raw)
		}
		var n int
		if err := e.DB.SQL.QueryRow(`SELECT count(*) FROM webhook_deliveries`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ids)*events.MaxEndpoints {
			t.Fatalf("%d deliveries queued, want %d", n, len(ids)*events.MaxEndpoints)
		}
	})
}
