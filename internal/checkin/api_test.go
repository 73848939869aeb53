package checkin_test

import (
	"database/sql"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/live"
	"clnd/internal/pgtest"
	"clnd/internal/serveraccounts"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type checkInAnswer struct {
	CheckIn struct {
		At               time.Time
		Licensed         []string
		NextCheckInAfter time.Time
	}
}

func decode(t *testing.T, r *apitest.Response, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("%s", r.Raw)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatal(err)
	}
}

func TestCheckInByAddressUpdatesLicensesAndStatus(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		e.AddLicense(r.Token, "203.0.113.10", "CLOUDLINUX_OS", "old-name")
		e.AddLicense(r.Token, "203.0.113.10", "IMUNIFY360_UNLIMITED", "")
		e.AddLicense(r.Token, "203.0.113.11", "KERNELCARE", "")

		var ans checkInAnswer
		decode(t, e.CheckInFrom("203.0.113.10", "web10.alice.example"), &ans)
		got := strings.Join(ans.CheckIn.Licensed, ",")
		if (got != "CLOUDLINUX_OS,IMUNIFY360_UNLIMITED" && got != "IMUNIFY360_UNLIMITED,CLOUDLINUX_OS") ||
			!ans.CheckIn.At.Equal(apitest.Start) || !ans.CheckIn.NextCheckInAfter.After(ans.CheckIn.At) {
			t.Fatalf("check-in answered %+v", ans)
		}
		var out struct {
			IPLicenses struct {
				Edges []struct {
					Node struct {
						IP, Hostname, Status string
						LastCheckIn          *time.Time
					}
				}
			}
		}
		e.Query(r.Token, `{ ipLicenses(orderBy: {field: IP}) { edges { node { ip hostname status lastCheckIn } } } }`, nil, &out)
		for _, edge := range out.IPLicenses.Edges {
			n := edge.Node
			switch n.IP {
			case "203.0.113.10":
				if n.Status != "ACTIVE" || n.Hostname != "web10.alice.example" || n.LastCheckIn == nil || !n.LastCheckIn.Equal(apitest.Start) {
					t.Errorf("checked-in license %+v", n)
				}
			default:
				if n.Status != "NEVER_CHECKED_IN" || n.LastCheckIn != nil {
					t.Errorf("untouched license %+v", n)
				}
			}
		}
		// Three days and a bit later without a check-in, the license is STALE.
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": apitest.Start.Add(72*time.Hour + time.Second)}, nil)
		var stale struct {
			IPLicenses struct {
				Edges []struct{ Node struct{ Status string } }
			}
		}
		e.Query(r.Token, `{ ipLicenses(where: {ip: "203.0.113.10"}) { edges { node { status } } } }`, nil, &stale)
		if s := stale.IPLicenses.Edges[0].Node.Status; s != "STALE" {
			t.Fatalf("status after 72h = %s", s)
		}
		// A check-in without a hostname keeps the one on record.
		decode(t, e.CheckInFrom("203.0.113.10", ""), &ans)
		e.Query(r.Token, `{ ipLicenses(where: {ip: "203.0.113.10", type: CLOUDLINUX_OS}) { edges { node { ip hostname status lastCheckIn } } } }`, nil, &out)
		if n := out.IPLicenses.Edges[0].Node; n.Hostname != "web10.alice.example" || n.Status != "ACTIVE" {
			t.Fatalf("after a bare check-in: %+v", n)
		}
		// An address without licenses is told so.
		decode(t, e.CheckInFrom("192.0.2.200", "nobody"), &ans)
		if len(ans.CheckIn.Licensed) != 0 {
			t.Fatalf("unlicensed host told %v", ans.CheckIn.Licensed)
		}
		e.Expect("BAD_USER_INPUT", "hostname", "", apitest.CheckInMutation, map[string]any{"host": strings.Repeat("x", 300)})
		e.Expect("BAD_USER_INPUT", "hostname", "", apitest.CheckInMutation, map[string]any{"host": "tab\there"})
		// A NUL (which PostgreSQL cannot store) is refused before it can fail a whole batch.
		nul := e.Do(apitest.Request{Query: apitest.CheckInMutation, Variables: map[string]any{"host": "a\x00b"},
			Header: map[string]string{"X-Forwarded-For": "203.0.113.10"}})
		if nul.Code() != "BAD_USER_INPUT" {
			t.Fatalf("NUL hostname: %s", nul.Raw)
		}
	})
}

func TestCheckInWithCredential(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		ctx := viewer.SystemContext(e.Ctx())
		tx, err := e.DB.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := serveraccounts.Create(ctx, tx, serveraccounts.NewAccount{ResellerID: r.ID, Login: "acct1", LicenseLimit: 2, At: apitest.Start})
		if err != nil {
			t.Fatal(err)
		}
		key, err := serveraccounts.CreateKey(ctx, tx, acct, apitest.Start)
		if err != nil {
			t.Fatal(err)
		}
		_, credential, err := serveraccounts.Register(ctx, tx, serveraccounts.NewServer{KeyToken: key.Token, Hostname: "node1", IP: "198.51.100.1", Sandbox: true, At: apitest.Start})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var ans checkInAnswer
		decode(t, e.Do(apitest.Request{Query: apitest.CheckInMutation, Variables: map[string]any{"host": "node1.renamed", "cred": credential}}), &ans)
		if strings.Join(ans.CheckIn.Licensed, ",") != "CLOUDLINUX_OS" {
			t.Fatalf("server licensed for %v", ans.CheckIn.Licensed)
		}
		var out struct {
			ServerAccounts struct {
				Edges []struct {
					Node struct {
						Servers struct {
							Edges []struct {
								Node struct {
									Hostname    string
									LastCheckIn *time.Time
								}
							}
						}
					}
				}
			}
		}
		e.Query(r.Token, `{ serverAccounts { edges { node { servers { edges { node { hostname lastCheckIn } } } } } } }`, nil, &out)
		srv := out.ServerAccounts.Edges[0].Node.Servers.Edges[0].Node
		if srv.Hostname != "node1.renamed" || srv.LastCheckIn == nil {
			t.Fatalf("server after check-in: %+v", srv)
		}
		e.Expect("UNAUTHENTICATED", "", "", apitest.CheckInMutation, map[string]any{"cred": "clnd_srv_forged"})
	})
}

const subscription = `subscription($where: CheckInFilter) {
	checkIns(where: $where) { at ip hostname license { id type reseller { login } } server { id } } }`

type event struct {
	Data struct {
		CheckIns struct {
			At       time.Time
			IP       string
			Hostname string
			License  *struct {
				ID, Type string
				Reseller struct{ Login string }
			}
		}
	}
}

func next(t *testing.T, s *apitest.Sub) event {
	t.Helper()
	raw, ok := s.Next(10 * time.Second)
	if !ok {
		t.Fatal("no event arrived")
	}
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return ev
}

func none(t *testing.T, s *apitest.Sub, who string) {
	t.Helper()
	if raw, ok := s.Next(300 * time.Millisecond); ok {
		t.Fatalf("%s received %s", who, raw)
	}
}

func TestSubscriptionsAreScopedToTheTenant(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		b := e.Register("bob")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		e.AddLicense(a.Token, "203.0.113.10", "KERNELCARE", "")
		e.AddLicense(b.Token, "203.0.113.20", "CLOUDLINUX_OS", "")

		subA := e.Subscribe(a.Token, subscription, nil)
		subAKernel := e.Subscribe(a.Token, subscription, map[string]any{"where": map[string]any{"type": "KERNELCARE"}})
		subB := e.Subscribe(b.Token, subscription, nil)
		subBSpy := e.Subscribe(b.Token, subscription, map[string]any{"where": map[string]any{"ip": "203.0.113.10"}})
		subOp := e.SubscribeSSE(e.OperatorToken, subscription, nil)

		e.CheckInFrom("203.0.113.10", "web10")
		got := map[string]bool{}
		for i := 0; i < 2; i++ {
			ev := next(t, subA).Data.CheckIns
			if ev.IP != "203.0.113.10" || ev.Hostname != "web10" || ev.License == nil || ev.License.Reseller.Login != "alice" {
				t.Fatalf("A received %+v", ev)
			}
			got[ev.License.Type] = true
		}
		if !got["CLOUDLINUX_OS"] || !got["KERNELCARE"] {
			t.Fatalf("A's events: %v", got)
		}
		if ev := next(t, subAKernel).Data.CheckIns; ev.License.Type != "KERNELCARE" {
			t.Fatalf("filtered subscriber received %+v", ev)
		}
		next(t, subOp)
		next(t, subOp)
		none(t, subAKernel, "the KERNELCARE-only subscriber")
		none(t, subB, "B")
		none(t, subBSpy, "B, filtering on A's address")

		e.CheckInFrom("203.0.113.20", "")
		if ev := next(t, subB).Data.CheckIns; ev.IP != "203.0.113.20" {
			t.Fatalf("B received %+v", ev)
		}
		none(t, subA, "A")
		// Without a token there is no subscription.
		r := e.Do(apitest.Request{Query: subscription})
		if r.Code() == "" {
			t.Fatalf("anonymous subscription: %s", r.Raw)
		}
	})
}

// Two instances on one PostgreSQL: a check-in through the second reaches a
// subscriber of the first through LISTEN/NOTIFY, and only the right tenant.
func TestCheckInsCrossInstances(t *testing.T) {
	// No shadow instances: the test counts the database's LISTEN connections.
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	second := apitest.Reopen(t, first, apitest.WithoutShadow())
	a := first.Register("alice")
	b := first.Register("bob")
	first.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	subA := first.Subscribe(a.Token, subscription, nil)
	subB := first.Subscribe(b.Token, subscription, nil)

	second.CheckInFrom("203.0.113.10", "via-second")
	if ev := next(t, subA).Data.CheckIns; ev.Hostname != "via-second" || ev.License == nil {
		t.Fatalf("A received %+v", ev)
	}
	none(t, subB, "B")
	none(t, subA, "A, a second time") // the origin instance does not echo its own events

	// Kill every LISTEN connection; the listeners reconnect and events flow again.
	admin, err := sql.Open("postgres", pgtest.AdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	var dbName string
	_ = first.DB.SQL.QueryRow(`SELECT current_database()`).Scan(&dbName)
	if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'clnd-listener' AND datname = $1`, dbName).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listener connections, want 2", killed)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		second.CheckInFrom("203.0.113.10", "after-reconnect")
		if raw, ok := subA.Next(500 * time.Millisecond); ok {
			var ev event
			_ = json.Unmarshal(raw, &ev)
			if ev.Data.CheckIns.Hostname == "after-reconnect" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no events after the LISTEN connection was killed")
		}
	}
}

// A subscriber that never reads must not slow check-ins down: the hub drops
// it once its buffer is full, and everyone else keeps receiving.
func TestSlowSubscriberDoesNotSlowCheckIns(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		stuck := e.Instance.Hub().Subscribe(live.Filter{ResellerID: a.ID}) // never read
		reader := e.Instance.Hub().Subscribe(live.Filter{ResellerID: a.ID})
		received := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range reader.Events() {
				received++
				if received == 3*live.SubscriberBuffer {
					return
				}
			}
		}()
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 3*live.SubscriberBuffer/8; i++ {
					if r := e.CheckInFrom("203.0.113.10", ""); r.Code() != "" {
						t.Errorf("check-in failed: %s", r.Raw)
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the reading subscriber got %d of %d events", received, 3*live.SubscriberBuffer)
		}
		if elapsed > 30*time.Second {
			t.Fatalf("%d check-ins took %v with a stuck subscriber", 3*live.SubscriberBuffer, elapsed)
		}
		// The stuck subscriber was let go once it was a full buffer behind.
		n := 0
		for range stuck.Events() {
			n++
		}
		if n != live.SubscriberBuffer {
			t.Fatalf("the stuck subscriber held %d events before being dropped, want %d", n, live.SubscriberBuffer)
		}
	})
}

// An instance NOTIFYs its check-ins only while another instance has
// subscribers (live.Presence): without any, or with subscribers on the
// writing instance only, PostgreSQL carries nothing; once a subscription
// has started on another instance, check-ins that follow reach it.
func TestCheckInsNotifiedOnlyWhileAnotherInstanceSubscribes(t *testing.T) {
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	second := apitest.Reopen(t, first, apitest.WithoutShadow())
	a := first.Register("alice")
	first.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")

	notified := rawNotifications(t, first) // every NOTIFY on the check-in channel
	quiet := func(why string) { t.Helper(); quietFor(t, notified, 300*time.Millisecond, why) }

	first.CheckInFrom("203.0.113.10", "nobody-watches")
	quiet("no subscribers anywhere")

	local := first.Subscribe(a.Token, subscription, nil)
	first.CheckInFrom("203.0.113.10", "watched-here")
	if ev := next(t, local).Data.CheckIns; ev.Hostname != "watched-here" {
		t.Fatalf("the local subscriber received %+v", ev)
	}
	quiet("subscribers on the writing instance only")

	remote := second.Subscribe(a.Token, subscription, nil)
	first.CheckInFrom("203.0.113.10", "watched-there")
	if ev := next(t, remote).Data.CheckIns; ev.Hostname != "watched-there" {
		t.Fatalf("the other instance's subscriber received %+v", ev)
	}
	notifiedWith(t, notified, "watched-there", "another instance has a subscriber")
}
