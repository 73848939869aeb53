package server_test

import (
	"testing"
	"time"

	"clnd/internal/apitest"
)

// Revocation reaches open subscriptions within a second, long before the
// 30 s periodic recheck (left at its default here) would.
const revocationReach = time.Second

const revocationSub = `subscription { checkIns { ip hostname } }`

// createToken makes an API token from a session and returns it and its ID.
func createToken(e *apitest.Env, session string) (token, id string) {
	var out struct {
		CreateAPIToken struct {
			Token    string
			APIToken struct{ ID string }
		}
	}
	e.Query(session, `mutation { createAPIToken(input: {name: "dash", scope: READ}) { token apiToken { id } } }`, nil, &out)
	return out.CreateAPIToken.Token, out.CreateAPIToken.APIToken.ID
}

// endsWithin waits for the subscription to end (its stream closes without
// an event) and fails if that takes longer than limit.
func endsWithin(t *testing.T, s *apitest.Sub, limit time.Duration, who string) {
	t.Helper()
	start := time.Now()
	raw, ok := s.Next(limit)
	if ok {
		t.Fatalf("%s: an event arrived after the revocation: %s", who, raw)
	}
	if waited := time.Since(start); waited >= limit {
		t.Fatalf("%s: the subscription was still open %v after the revocation", who, limit)
	}
}

// waitSubscribers waits (up to limit) until the instance holds n subscriptions.
func waitSubscribers(t *testing.T, e *apitest.Env, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for e.Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions open %v after the revocation, want %d", e.Subscribers(), limit, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logout ends the session's open subscriptions on the same instance within
// a second; a subscription with another credential of the same reseller
// goes on receiving.
func TestLogoutEndsOpenSubscriptionsAtOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
		token, _ := createToken(e, a.Token)
		bySession := e.Subscribe(a.Token, revocationSub, nil)
		byToken := e.Subscribe(token, revocationSub, nil)

		e.Query(a.Token, `mutation { logout }`, nil, nil)
		endsWithin(t, bySession, revocationReach, "session")
		waitSubscribers(t, e, 1, revocationReach)

		e.CheckInFrom("203.0.113.10", "after-logout")
		if _, ok := byToken.Next(10 * time.Second); !ok {
			t.Fatal("the API token's subscription stopped receiving after the session's logout")
		}
	})
}

// revokeAPIToken on one instance ends the token's subscriptions on another
// instance (same PostgreSQL) within a second.
func TestRevokeAPITokenEndsSubscriptionsOnOtherInstances(t *testing.T) {
	// No shadow instances: the test counts each instance's subscriptions.
	first := apitest.New(t, "postgres", apitest.WithoutShadow())
	second := apitest.Reopen(t, first, apitest.WithoutShadow())
	<-first.Instance.Listening()
	<-second.Instance.Listening()
	a := first.Register("alice")
	first.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	token, id := createToken(first, a.Token)
	byToken := first.Subscribe(token, revocationSub, nil)
	bySession := first.Subscribe(a.Token, revocationSub, nil)
	onSecond := second.Subscribe(token, revocationSub, nil)

	second.Query(a.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`, map[string]any{"id": id}, nil)
	endsWithin(t, byToken, revocationReach, "other instance")
	endsWithin(t, onSecond, revocationReach, "revoking instance")
	waitSubscribers(t, first, 1, revocationReach)
	waitSubscribers(t, second, 0, revocationReach)

	second.CheckInFrom("203.0.113.10", "after-revocation")
	if _, ok := bySession.Next(10 * time.Second); !ok {
		t.Fatal("the session's subscription stopped receiving after another credential's revocation")
	}
}
