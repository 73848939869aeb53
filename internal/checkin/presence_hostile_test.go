package checkin_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"clnd/internal/apitest"
	"clnd/internal/live"
	"clnd/internal/server"
	"clnd/internal/testclock"
)

// rawNotifications listens on the check-in channel of e's database and
// returns every payload NOTIFYed there.
func rawNotifications(t *testing.T, e *apitest.Env) <-chan string {
	t.Helper()
	notified := make(chan string, 1000)
	l := pq.NewListener(e.DB.URL, 10*time.Millisecond, time.Second, nil)
	t.Cleanup(func() { l.Close() })
	if err := l.Listen(live.Channel); err != nil {
		t.Fatal(err)
	}
	go func() {
		for n := range l.Notify {
			if n != nil {
				notified <- n.Extra
			}
		}
	}()
	return notified
}

// quietFor fails if anything is NOTIFYed on the check-in channel within d.
func quietFor(t *testing.T, notified <-chan string, d time.Duration, why string) {
	t.Helper()
	select {
	case p := <-notified:
		t.Fatalf("%s: NOTIFY %s", why, p)
	case <-time.After(d):
	}
}

// notifiedWith waits for a NOTIFY carrying hostname.
func notifiedWith(t *testing.T, notified <-chan string, hostname, why string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case p := <-notified:
			if strings.Contains(p, hostname) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no NOTIFY of %s", why, hostname)
		}
	}
}

// secondInstance starts another clnd instance on e's database without an
// HTTP server, so that the test decides when it stops (Close).
func secondInstance(t *testing.T, e *apitest.Env) *server.Server {
	t.Helper()
	c, err := testclock.Load(context.Background(), e.DB.Client)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(e.Config, e.DB, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Listening():
	case <-time.After(10 * time.Second):
		t.Fatal("the second instance did not start listening")
	}
	return srv
}

// holdInserts blocks every INSERT into live_instances (SHARE conflicts with
// ROW EXCLUSIVE, not with the check-ins' reads) until the returned func is
// called.
func holdInserts(t *testing.T, e *apitest.Env) (release func()) {
	t.Helper()
	tx, err := e.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE live_instances IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback()
		}
	}
	t.Cleanup(release)
	return release
}

// A row whose until has passed (an instance killed without unlisting) does
// not make the others NOTIFY; a fresh one does.
func TestHostilePresenceExpiredRowsDoNotNotify(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutShadow())
	a := e.Register("alice")
	e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	notified := rawNotifications(t, e)

	if _, err := e.DB.SQL.Exec(`INSERT INTO live_instances (origin, until) VALUES ('ins_dead', now() - interval '1 second')`); err != nil {
		t.Fatal(err)
	}
	e.CheckInFrom("203.0.113.10", "dead-peer")
	quietFor(t, notified, 400*time.Millisecond, "only an expired peer is listed")

	if _, err := e.DB.SQL.Exec(`UPDATE live_instances SET until = now() + interval '1 minute' WHERE origin = 'ins_dead'`); err != nil {
		t.Fatal(err)
	}
	e.CheckInFrom("203.0.113.10", "live-peer")
	notifiedWith(t, notified, "live-peer", "a live peer is listed")
}

// Subscribe returns only once the instance is listed: a check-in that
// starts afterwards on another instance reaches the subscriber, even when
// the listing had to wait (here for a lock, as it may for a connection).
func TestHostileSubscribeReturnsOnlyOnceListed(t *testing.T) {
	first, second := withLicenseAndPeer(t)
	defer second.Close()

	release := holdInserts(t, first)
	go func() { time.Sleep(time.Second); release() }()
	sub := second.Hub().Subscribe(live.Filter{})
	defer second.Hub().Unsubscribe(sub)

	first.CheckInFrom("203.0.113.10", "after-subscribe")
	select {
	case ev := <-sub.Events():
		if ev.Hostname != "after-subscribe" {
			t.Fatalf("received %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a check-in that started after Subscribe returned was not delivered to the other instance")
	}
}

// An instance that stops deletes its row: the others stop NOTIFYing at once
// rather than for the row's two minutes.
func TestHostilePresenceStopUnlists(t *testing.T) {
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	a := first.Register("alice")
	first.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	notified := rawNotifications(t, first)
	second := secondInstance(t, first)

	sub := second.Hub().Subscribe(live.Filter{})
	var n int
	var ttl float64
	if err := first.DB.SQL.QueryRow(`SELECT count(*), COALESCE(max(EXTRACT(EPOCH FROM until - now())), 0) FROM live_instances WHERE until > now()`).Scan(&n, &ttl); err != nil {
		t.Fatal(err)
	}
	if n != 1 || ttl <= 60 || ttl > 121 {
		t.Fatalf("after one subscription: %d live rows, expiring in %.0f s", n, ttl)
	}
	first.CheckInFrom("203.0.113.10", "while-subscribed")
	notifiedWith(t, notified, "while-subscribed", "another instance has a subscriber")

	_ = sub
	second.Close() // with its subscriber still registered
	if err := first.DB.SQL.QueryRow(`SELECT count(*) FROM live_instances`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rows left in live_instances after the instance stopped", n)
	}
	first.CheckInFrom("203.0.113.10", "after-stop")
	quietFor(t, notified, 400*time.Millisecond, "the only other instance has stopped")
}

// The instance's "registered" (the count apitest.Subscribe waits for) comes
// after it is listed, so a check-in sent on another instance right after
// apitest.Subscribe returns is NOTIFYed. The lock widens a window that is
// otherwise about one INSERT long (review repro, fixed in 8995e79).
func TestHostileRegisteredOnlyOnceListed(t *testing.T) {
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	second := apitest.Reopen(t, first, apitest.WithoutShadow())
	a := first.Register("alice")
	first.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")

	release := holdInserts(t, first)
	go func() { time.Sleep(time.Second); release() }()
	sub := second.Subscribe(a.Token, subscription, nil) // returns once second.Subscribers() counts it
	first.CheckInFrom("203.0.113.10", "after-registration")
	if raw, ok := sub.Next(5 * time.Second); !ok {
		t.Fatal("the check-in after the subscription was registered never arrived")
	} else if !strings.Contains(string(raw), "after-registration") {
		t.Fatalf("received %s", raw)
	}
}

// When listing fails (here it waits on a lock past its timeout; in
// production: this instance's pool exhausted, "too many clients", a network
// hiccup to this instance only), the subscription must not run on without
// the other instances' check-ins: it ends (its stream closes) and the client
// subscribes again (review repro, fixed in 8995e79).
func TestHostileListingFailureEndsTheSubscription(t *testing.T) {
	first, second := withLicenseAndPeer(t)
	defer second.Close()

	release := holdInserts(t, first)
	start := time.Now()
	sub := second.Hub().Subscribe(live.Filter{})
	defer second.Hub().Unsubscribe(sub)
	t.Logf("Subscribe returned after %v without an error", time.Since(start).Round(time.Millisecond))
	release()

	first.CheckInFrom("203.0.113.10", "after-failed-listing")
	select {
	case ev, open := <-sub.Events():
		if open && ev.Hostname != "after-failed-listing" {
			t.Fatalf("received %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an established subscription missed a check-in of another instance (the listing had failed)")
	}
}

var _ = sql.ErrNoRows

// While live_instances cannot be written, concurrent Subscribes must not
// queue behind Presence.mu each for its own timeout (review repro: 5 s, 10 s,
// 15 s for three; fixed in 8995e79).
func TestHostileSubscribesDoNotQueueBehindAFailingListing(t *testing.T) {
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	second := secondInstance(t, first)
	defer second.Close()
	release := holdInserts(t, first)
	defer release()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var took []time.Duration
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := second.Hub().Subscribe(live.Filter{})
			mu.Lock()
			took = append(took, time.Since(start).Round(100*time.Millisecond))
			mu.Unlock()
			second.Hub().Unsubscribe(s)
		}()
	}
	wg.Wait()
	t.Logf("3 concurrent Subscribes returned after %v", took)
	if took[len(took)-1] > 7*time.Second {
		t.Fatalf("the last of 3 concurrent Subscribes returned after %v", took[len(took)-1])
	}
}

// After Close has unlisted the instance, a subscription started on a
// connection that outlived the HTTP shutdown (websockets are hijacked;
// Shutdown does not wait for them) must not list it again: the others
// would NOTIFY for it for two minutes after it has gone. (Review repro.)
func TestHostileSubscribeAfterStopDoesNotRelist(t *testing.T) {
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	second := secondInstance(t, first)
	second.Close()
	// A websocket hijacked before shutdown may still start a subscription.
	sub := second.Hub().Subscribe(live.Filter{})
	defer second.Hub().Unsubscribe(sub)
	var n int
	if err := first.DB.SQL.QueryRow(`SELECT count(*) FROM live_instances WHERE until > now()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a stopped instance listed itself again (%d rows): the others NOTIFY for it for two minutes", n)
	}
}

// withLicenseAndPeer is an instance with a license of alice's at
// 203.0.113.10, and a second instance on its database.
func withLicenseAndPeer(t *testing.T) (*apitest.Env, *server.Server) {
	t.Helper()
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	a := first.Register("alice")
	first.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	return first, secondInstance(t, first)
}
