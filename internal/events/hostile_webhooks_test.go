package events_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/events"
)

func TestHostileResellerEndpointLimitRace(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("racer")
		codes := e.Race(40, func(i int) apitest.Request {
			return apitest.Request{Token: r.Token, Query: createEndpoint, Variables: map[string]any{"in": map[string]any{
				"url": fmt.Sprintf("https://example.com/%d", i), "events": []string{"*"}}}}
		})
		var list struct {
			WebhookEndpoints struct{ TotalCount int }
		}
		e.Query(r.Token, `{ webhookEndpoints(first: 100) { totalCount } }`, nil, &list)
		if list.WebhookEndpoints.TotalCount != events.MaxEndpoints || codes[""] != events.MaxEndpoints {
			t.Fatalf("%d endpoints after 40 concurrent creates (answers %v), want %d", list.WebhookEndpoints.TotalCount, codes, events.MaxEndpoints)
		}
	})
}

func TestHostilePrivateHostsNeverConnected(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var connections atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.Config.ConnState = func(net.Conn, http.ConnState) {}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener = countingListener{ln, &connections}
		srv.Start()
		defer srv.Close()
		port := srv.Listener.Addr().(*net.TCPAddr).Port
		r := e.Register("ssrf")
		hosts := []string{"localhost", "localhost.", "LOCALHOST", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0", "127.0.0.1.", "[::1%25lo]"}
		var made []string
		for _, h := range hosts {
			url := fmt.Sprintf("http://%s:%d/hook", h, port)
			res := e.Do(apitest.Request{Token: r.Token, Query: createEndpoint, Variables: map[string]any{"in": map[string]any{"url": url, "events": []string{events.LicenseAdded}}}})
			if res.Code() == "" {
				made = append(made, url)
			}
		}
		// Literal spellings of private addresses refused at creation.
		for _, u := range []string{"http://127.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[64:ff9b::7f00:1]/",
			"http://[::127.0.0.1]/", "http://0.0.0.0/", "http://[::]/", "http://169.254.169.254/", "http://[fe80::1%25eth0]/", "http://[2002:7f00:1::]/",
			"http://[fd00::1]/", "http://10.0.0.1/", "http://100.64.0.1/", "http://[::ffff:0:7f00:1]/"} {
			e.Expect("BAD_USER_INPUT", "url", r.Token, createEndpoint, map[string]any{"in": map[string]any{"url": u, "events": []string{"*"}}})
		}
		t.Logf("accepted at creation (checked at delivery): %v", made)
		e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		deadline := time.Now().Add(10 * time.Second)
		for {
			ds := deliveries(t, e, r.Token, nil)
			attempted := 0
			for _, d := range ds {
				if d.Attempts > 0 {
					attempted++
					if d.Status == "SUCCEEDED" || d.ResponseStatus != nil {
						t.Fatalf("delivery reached a private host: %+v", d)
					}
				}
			}
			if attempted == len(made) {
				for _, d := range ds {
					t.Logf("%s: %s", d.Status, d.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d deliveries attempted: %+v", attempted, len(made), ds)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := connections.Load(); n != 0 {
			t.Fatalf("the loopback receiver got %d connections", n)
		}
	})
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestHostileReadTokenCannotManageEndpoints(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("reader")
		read := e.APIToken(r.Token, "READ")
		ep := create(t, e, r.Token, "https://example.com/x", "*")
		e.Expect("FORBIDDEN", "", read, createEndpoint, map[string]any{"in": map[string]any{"url": "https://example.com/y", "events": []string{"*"}}})
		e.Expect("FORBIDDEN", "", read, `mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id}) { secret } }`, map[string]any{"id": ep.ID})
		e.Expect("FORBIDDEN", "", read, `mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, url: "https://evil.example.com/"}) { endpoint { id } } }`, map[string]any{"id": ep.ID})
		e.Expect("FORBIDDEN", "", read, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedID } }`, map[string]any{"id": ep.ID})
	})
}

func TestHostileReceiverMisbehaves(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer hang.Close()
		defer close(release)
		endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer endless.Close()
		hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			_ = buf.Flush()
			conn.Close()
		}))
		defer hangup.Close()
		healthy := newReceiver(t, nil)

		r := e.Register("misbehaved")
		hangEP := create(t, e, r.Token, hang.URL, events.LicenseAdded)
		endlessEP := create(t, e, r.Token, endless.URL, events.LicenseAdded)
		hangupEP := create(t, e, r.Token, hangup.URL, events.LicenseAdded)
		create(t, e, r.Token, healthy.URL(), events.LicenseAdded)
		const n = 10
		start := time.Now()
		for i := 0; i < n; i++ {
			e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 20+i), "CLOUDLINUX_OS", "")
		}
		healthy.wait(n)
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("the healthy receiver waited %s for %d events behind a hanging one", d, n)
		}
		for _, d := range deliveries(t, e, r.Token, map[string]any{"endpointID": endlessEP.ID}) {
			if d.Status == "SUCCEEDED" && d.DurationMs != nil && *d.DurationMs > 5000 {
				t.Fatalf("an endless answer held the attempt %d ms: %+v", *d.DurationMs, d)
			}
		}
		d := waitDelivery(t, e, r.Token, map[string]any{"endpointID": hangupEP.ID}, func(d delivery) bool { return d.Attempts >= 1 })
		t.Logf("hang-up: %+v %s", d.Status, d.Error)
		d = waitDelivery(t, e, r.Token, map[string]any{"endpointID": hangEP.ID}, func(d delivery) bool { return d.Attempts >= 1 })
		if d.Status != "PENDING" || d.NextAttemptAt == nil || d.DurationMs == nil || *d.DurationMs < 9000 || *d.DurationMs > 15000 || !strings.Contains(d.Error, "10s") {
			t.Fatalf("the hanging receiver's attempt: %+v", d)
		}
		t.Logf("hang: %s after %d ms", d.Error, *d.DurationMs)
	}, allowPrivate)
}

func TestHostileDeleteAndDisableWhileDelivering(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var inFlight atomic.Int32
		var after atomic.Int32
		var deletedAt atomic.Int64 // Unix ns; an attempt that read its row before the delete may still arrive just after it
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if at := deletedAt.Load(); at != 0 && time.Now().UnixNano() > at+int64(500*time.Millisecond) {
				after.Add(1)
			}
			inFlight.Add(1)
			time.Sleep(1500 * time.Millisecond)
			w.WriteHeader(500)
		}))
		defer slow.Close()
		flappy := newReceiver(t, nil)
		r := e.Register("flapper")
		doomed := create(t, e, r.Token, slow.URL, events.LicenseAdded)
		flap := create(t, e, r.Token, flappy.URL(), events.LicenseAdded)
		for i := 0; i < 6; i++ {
			e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 60+i), "CLOUDLINUX_OS", "")
		}
		for inFlight.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		e.Query(r.Token, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedID } }`, map[string]any{"id": doomed.ID}, nil)
		deletedAt.Store(time.Now().UnixNano())
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res := e.Do(apitest.Request{Token: r.Token, Query: `mutation($id: ID!, $on: Boolean) { updateWebhookEndpoint(input: {id: $id, enabled: $on}) { endpoint { enabled } } }`,
					Variables: map[string]any{"id": flap.ID, "on": i%2 == 0}})
				if res.Code() != "" {
					t.Errorf("toggle %d: %s", i, res.Raw)
				}
			}(i)
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 100+i), "KERNELCARE", "")
			}(i)
		}
		wg.Wait()
		// Advance the clock past every retry: the deleted endpoint gets nothing more.
		advance(t, e, e.Clock.Now().Add(time.Hour))
		time.Sleep(2 * time.Second)
		if n := after.Load(); n != 0 {
			t.Fatalf("the deleted endpoint got %d requests after its deletion", n)
		}
		for _, d := range deliveries(t, e, r.Token, nil) {
			if d.Endpoint.ID == doomed.ID {
				t.Fatalf("a delivery of the deleted endpoint is listed: %+v", d)
			}
		}
		// The final state of the flapping endpoint decides: enable it and
		// the next event arrives.
		e.Query(r.Token, `mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { endpoint { enabled } } }`, map[string]any{"id": flap.ID}, nil)
		before := len(flappy.requests())
		e.AddLicense(r.Token, "203.0.113.200", "CLOUDLINUX_OS", "")
		flappy.wait(before + 1)
	}, allowPrivate)
}

func TestHostileRedeliverTwentyAtOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		var mu sync.Mutex
		byDelivery := map[string]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			byDelivery[r.Header.Get("Clnd-Delivery-Id")]++
			mu.Unlock()
		}))
		defer srv.Close()
		r := e.Register("redeliver")
		create(t, e, r.Token, srv.URL, events.LicenseAdded)
		e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		first := waitDelivery(t, e, r.Token, nil, func(d delivery) bool { return d.Status == "SUCCEEDED" })
		codes := e.Race(20, func(int) apitest.Request {
			return apitest.Request{Token: r.Token, Query: `mutation($id: ID!) { redeliverWebhook(deliveryID: $id) { delivery { id } } }`,
				Variables: map[string]any{"id": first.ID}}
		})
		if codes[""] != 20 {
			t.Fatalf("20 concurrent redeliveries answered %v", codes)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			ds := deliveries(t, e, r.Token, nil)
			done := 0
			for _, d := range ds {
				if d.Status == "SUCCEEDED" {
					done++
				}
			}
			if len(ds) == 21 && done == 21 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d deliveries, %d succeeded", len(ds), done)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(byDelivery) != 21 {
			t.Fatalf("the receiver saw %d deliveries, want 21", len(byDelivery))
		}
		for id, n := range byDelivery {
			if n != 1 {
				t.Fatalf("delivery %s arrived %d times", id, n)
			}
		}
	}, allowPrivate)
}

func TestHostileHangingEndpointDoesNotStarveOthers(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer hang.Close()
		defer close(release)
		healthy := newReceiver(t, nil)
		r := e.Register("starved")
		create(t, e, r.Token, hang.URL, events.LicenseAdded)
		create(t, e, r.Token, healthy.URL(), events.LicenseAdded)
		const n = 200
		var ids []string
		for i := 0; i < n; i++ {
			ids = append(ids, fmt.Sprintf("203.0.%d.%d", 113-i/200*13, 1+i%200))
		}
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 4 {
					e.AddLicense(r.Token, ids[i], "CLOUDLINUX_OS", "")
				}
			}(w)
		}
		wg.Wait()
		added := time.Since(start)
		deadline := time.Now().Add(30 * time.Second)
		for len(healthy.requests()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the healthy receiver got %d of %d events 30 s after the last was added", len(healthy.requests()), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("adding took %s; the healthy receiver had all %d %s after the start", added, n, time.Since(start))
	}, allowPrivate)
}
