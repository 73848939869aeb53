package live_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
)

const (
	plainCheckIns = `subscription { checkIns { at ip hostname } }`
	fullCheckIns  = `subscription($w: CheckInFilter) { checkIns(where: $w) { ip hostname
		license { id ip type hostname reseller { id } } server { id ip reseller { id } } } }`
)

// sharedEvent is what a subscriber received of one check-in.
type sharedEvent struct {
	IP, Hostname string
	License      *struct {
		ID, IP, Type string
		Reseller     struct{ ID string }
	}
	Server *struct {
		ID, IP   string
		Reseller struct{ ID string }
	}
}

// expectedEvent is one event a check-in makes: its license's or server's
// ID and owner.
type expectedEvent struct {
	ip, hostname, licenseID, serverID, owner string
}

// key names an event by what every document selects.
func (x expectedEvent) key() string { return x.ip + " " + x.hostname }

// hostileSubscriber is one subscription and what it must receive.
type hostileSubscriber struct {
	name   string
	sub    *apitest.Sub
	tenant string // "" for an operator
	full   bool   // selects license and server
	ip     string // filters on this address
}

// wants reports whether s must receive x.
func (s *hostileSubscriber) wants(x expectedEvent) bool {
	return (s.tenant == "" || s.tenant == x.owner) && (s.ip == "" || s.ip == x.ip)
}

// Every subscriber shares the published events (one *live.Event for all)
// and, within a group, their renderings. Two resellers and an operator
// subscribe with different documents, variables, credentials and
// transports, on two instances (PostgreSQL), while hosts check in on both
// at once; one address holds a license of each reseller, so its check-ins
// make an event for each tenant in the same batch. Each subscriber must
// receive exactly its tenant's events, once each, with its own license or
// server, never the other tenant's; run it with -race. A subscription
// whose token is revoked mid-stream ends without disturbing the others.
func TestHostile2SharedEventsStayWithTheirTenant(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		instances := []*apitest.Env{e}
		if e.Backend == "postgres" {
			instances = append(instances, apitest.Reopen(t, e, apitest.WithoutShadow()))
		}
		a, b := e.Register("alice"), e.Register("bob")
		// licenses by address: each tenant's own, and one address shared.
		const shared = "203.0.113.50"
		type lic struct{ id, owner, typ string }
		licenses := map[string][]lic{}
		add := func(r apitest.Reseller, ip, typ string) {
			licenses[ip] = append(licenses[ip], lic{e.AddLicense(r.Token, ip, typ, "before-"+ip), r.ID, typ})
		}
		add(a, "203.0.113.1", "KERNELCARE")
		add(a, "203.0.113.1", "IMUNIFYAV_PLUS") // two events per check-in
		add(a, "203.0.113.2", "CLOUDLINUX_OS")
		add(b, "203.0.113.11", "KERNELCARE")
		add(b, "203.0.113.12", "CLOUDLINUX_OS")
		add(a, shared, "KERNELCARE")
		add(b, shared, "CLOUDLINUX_OS")
		ips := []string{"203.0.113.1", "203.0.113.2", "203.0.113.11", "203.0.113.12", shared}
		// b's registered server, which checks in with its credential.
		var acct struct {
			CreateServerAccount struct{ ServerAccount struct{ ID string } }
		}
		e.Query(b.Token, `mutation { createServerAccount(input: {login: "acme", firstName: "A", lastName: "B", company: "Acme",
			email: "ops@acme.example", licenseLimit: 2}) { serverAccount { id } } }`, nil, &acct)
		var key struct {
			CreateActivationKey struct{ Key struct{ Token string } }
		}
		e.Query(b.Token, `mutation($id: ID!) { createActivationKey(serverAccountID: $id) { key { token } } }`,
			map[string]any{"id": acct.CreateServerAccount.ServerAccount.ID}, &key)
		var reg struct {
			RegisterServer struct {
				Server     struct{ ID string }
				Credential string
			}
		}
		const serverIP = "198.51.100.7"
		e.Query("", `mutation($k: String!) { registerServer(input: {activationKey: $k, hostname: "n1", ip: "198.51.100.7"}) { server { id } credential } }`,
			map[string]any{"k": key.CreateActivationKey.Key.Token}, &reg)
		serverID, credential := reg.RegisterServer.Server.ID, reg.RegisterServer.Credential

		revocable := map[string]string{} // reseller → ID of the token revoked mid-stream
		var subs []*hostileSubscriber
		for n, inst := range instances {
			for _, r := range []apitest.Reseller{a, b} {
				read := e.APIToken(r.Token, "READ")
				subs = append(subs,
					&hostileSubscriber{name: fmt.Sprintf("%d %s plain", n, r.Login), sub: inst.Subscribe(r.Token, plainCheckIns, nil), tenant: r.ID},
					&hostileSubscriber{name: fmt.Sprintf("%d %s plain, same group", n, r.Login), sub: inst.Subscribe(r.Token, plainCheckIns, nil), tenant: r.ID},
					&hostileSubscriber{name: fmt.Sprintf("%d %s full", n, r.Login), sub: inst.Subscribe(r.Token, fullCheckIns, nil), tenant: r.ID, full: true},
					&hostileSubscriber{name: fmt.Sprintf("%d %s full, same group", n, r.Login), sub: inst.Subscribe(r.Token, fullCheckIns, nil), tenant: r.ID, full: true},
					&hostileSubscriber{name: fmt.Sprintf("%d %s full over SSE, READ token", n, r.Login), sub: inst.SubscribeSSE(read, fullCheckIns, nil), tenant: r.ID, full: true},
					&hostileSubscriber{name: fmt.Sprintf("%d %s full, shared address", n, r.Login),
						sub: inst.Subscribe(r.Token, fullCheckIns, map[string]any{"w": map[string]any{"ip": shared}}), tenant: r.ID, full: true, ip: shared},
				)
			}
			subs = append(subs,
				&hostileSubscriber{name: fmt.Sprintf("%d operator plain", n), sub: inst.Subscribe(e.OperatorToken, plainCheckIns, nil)},
				&hostileSubscriber{name: fmt.Sprintf("%d operator full", n), sub: inst.Subscribe(e.OperatorToken, fullCheckIns, nil), full: true},
				&hostileSubscriber{name: fmt.Sprintf("%d operator full over SSE", n), sub: inst.SubscribeSSE(e.OperatorToken, fullCheckIns, nil), full: true},
				&hostileSubscriber{name: fmt.Sprintf("%d operator full, shared address", n),
					sub: inst.Subscribe(e.OperatorToken, fullCheckIns, map[string]any{"w": map[string]any{"ip": shared}}), full: true, ip: shared},
			)
		}
		// Subscriptions (one per tenant) whose API token is revoked halfway,
		// with the document of another group of the same tenant.
		var revoked []*hostileSubscriber
		for _, r := range []apitest.Reseller{a, b} {
			var out struct {
				CreateAPIToken struct {
					Token    string
					APIToken struct{ ID string }
				}
			}
			e.Query(r.Token, `mutation { createAPIToken(input: {name: "doomed", scope: READ}) { token apiToken { id } } }`, nil, &out)
			revocable[r.ID] = out.CreateAPIToken.APIToken.ID
			s := &hostileSubscriber{name: r.Login + " revoked", sub: instances[len(instances)-1].Subscribe(out.CreateAPIToken.Token, fullCheckIns, nil), tenant: r.ID, full: true}
			revoked = append(revoked, s)
		}

		// Check-ins from every address and the server, on every instance at
		// once, round after round, each with its own hostname.
		const rounds = 12
		var (
			mu       sync.Mutex
			expected []expectedEvent
		)
		send := func(round int) {
			var wg sync.WaitGroup
			for n, inst := range instances {
				for _, ip := range ips {
					wg.Add(1)
					go func() {
						defer wg.Done()
						host := fmt.Sprintf("h%d-%d-%s", n, round, ip)
						if c := inst.LeanCheckInFrom(ip, host); c.Code() != "" || len(c.Licensed) != len(licenses[ip]) {
							t.Errorf("check-in from %s: %s", ip, c.Raw)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						for _, l := range licenses[ip] {
							expected = append(expected, expectedEvent{ip: ip, hostname: host, licenseID: l.id, owner: l.owner})
						}
					}()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					host := fmt.Sprintf("n%d-%d", n, round)
					rsp := inst.Do(apitest.Request{Query: apitest.CheckInMutation, Variables: map[string]any{"host": host, "cred": credential}})
					if rsp.Code() != "" {
						t.Errorf("server check-in: %s", rsp.Raw)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					expected = append(expected, expectedEvent{ip: serverIP, hostname: host, serverID: serverID, owner: b.ID})
				}()
			}
			wg.Wait()
		}
		for round := 0; round < rounds/2; round++ {
			send(round)
		}
		last := instances[len(instances)-1]
		open := last.Subscribers()
		for _, r := range []apitest.Reseller{a, b} {
			e.Query(r.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`, map[string]any{"id": revocable[r.ID]}, nil)
		}
		// Revocation reaches subscriptions within a second (on the other
		// instance, through NOTIFY): what follows must not reach them.
		for deadline := time.Now().Add(5 * time.Second); last.Subscribers() > open-len(revoked); {
			if time.Now().After(deadline) {
				t.Fatalf("%d subscriptions still open 5 s after the revocation, want %d", last.Subscribers(), open-len(revoked))
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		beforeRevocation := len(expected)
		mu.Unlock()
		for round := rounds / 2; round < rounds; round++ {
			send(round)
		}
		if t.Failed() {
			t.FailNow()
		}

		for _, s := range subs {
			var want []expectedEvent
			for _, x := range expected {
				if s.wants(x) {
					want = append(want, x)
				}
			}
			checkReceived(t, s, want, true)
		}
		for _, s := range revoked {
			var want []expectedEvent
			for _, x := range expected[:beforeRevocation] {
				if s.wants(x) {
					want = append(want, x)
				}
			}
			checkReceived(t, s, want, false)
		}
	}, apitest.WithoutShadow())
}

// checkReceived reads s's events until it has received len(want) (all, or
// when its subscription ends early, the ones before that) and fails on any
// event that is not one of want, once, with the right license or server.
func checkReceived(t *testing.T, s *hostileSubscriber, want []expectedEvent, all bool) {
	t.Helper()
	left := map[string][]expectedEvent{}
	for _, x := range want {
		left[x.key()] = append(left[x.key()], x)
	}
	received, ended := 0, false
	for received < len(want) {
		asked := time.Now()
		raw, ok := s.sub.Next(15 * time.Second)
		if !ok {
			ended = time.Since(asked) < 15*time.Second
			break
		}
		received++
		var m struct {
			Data   struct{ CheckIns sharedEvent }
			Errors json.RawMessage
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Errors != nil {
			t.Fatalf("%s: %s (%v)", s.name, raw, err)
		}
		got := m.Data.CheckIns
		candidates := left[got.IP+" "+got.Hostname]
		i := slices.IndexFunc(candidates, func(x expectedEvent) bool {
			switch {
			case !s.full:
				return got.License == nil && got.Server == nil
			case x.licenseID != "":
				return got.Server == nil && got.License != nil && got.License.ID == x.licenseID &&
					got.License.IP == x.ip && got.License.Reseller.ID == x.owner
			default:
				return got.License == nil && got.Server != nil && got.Server.ID == x.serverID &&
					got.Server.IP == x.ip && got.Server.Reseller.ID == x.owner
			}
		})
		if i < 0 {
			t.Fatalf("%s received an event it should not have (another tenant's, twice, or with another's license): %s", s.name, raw)
		}
		left[got.IP+" "+got.Hostname] = slices.Delete(candidates, i, i+1)
	}
	if all && received < len(want) {
		t.Fatalf("%s received %d of its %d events", s.name, received, len(want))
	}
	if !all {
		if !ended {
			asked := time.Now()
			if raw, ok := s.sub.Next(2 * time.Second); ok {
				t.Fatalf("%s received an event after its token was revoked: %s", s.name, raw)
			}
			if time.Since(asked) >= 2*time.Second {
				t.Fatalf("%s: the subscription is still open after its token was revoked", s.name)
			}
		}
		t.Logf("%s received %d of the %d events from before its token was revoked", s.name, received, len(want))
		return
	}
	if raw, ok := s.sub.Next(100 * time.Millisecond); ok {
		t.Fatalf("%s received an event beyond its %d: %s", s.name, len(want), raw)
	}
}
