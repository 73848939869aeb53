package serveraccounts_test

import (
	"fmt"
	"strings"
	"testing"

	"clnd/ent/billablerun"
	"clnd/ent/reseller"
	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	create = `mutation($in: CreateServerAccountInput!) { createServerAccount(input: $in) {
		serverAccount { id login licenseLimit usedLicenses email } } }`
	update = `mutation($id: ID!, $in: UpdateServerAccountInput!) { updateServerAccount(id: $id, input: $in) {
		serverAccount { id company licenseLimit usedLicenses } } }`
	newKey   = `mutation($id: ID!) { createActivationKey(serverAccountID: $id) { key { id token usage createdAt } } }`
	register = `mutation($key: String!, $host: String, $ip: String) { registerServer(input: {activationKey: $key, hostname: $host, ip: $ip}) {
		credential server { id hostname ip registeredAt } } }`
)

type account struct {
	ID, Login, Email, Company  string
	LicenseLimit, UsedLicenses int
}

func createAccount(t *testing.T, e *apitest.Env, token, login string, limit int) account {
	t.Helper()
	var out struct {
		CreateServerAccount struct{ ServerAccount account }
	}
	e.Query(token, create, map[string]any{"in": map[string]any{"login": login, "licenseLimit": limit, "email": login + "@example.com"}}, &out)
	return out.CreateServerAccount.ServerAccount
}

func key(t *testing.T, e *apitest.Env, token, accountID string) (id, tok string) {
	t.Helper()
	var out struct {
		CreateActivationKey struct{ Key struct{ ID, Token string } }
	}
	e.Query(token, newKey, map[string]any{"id": accountID}, &out)
	return out.CreateActivationKey.Key.ID, out.CreateActivationKey.Key.Token
}

func registerServer(e *apitest.Env, keyToken, host string) *apitest.Response {
	return e.Do(apitest.Request{Query: register, Variables: map[string]any{"key": keyToken, "host": host, "ip": "198.51.100.5"}})
}

func TestServerAccountLifecycle(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		acct := createAccount(t, e, r.Token, "Acme-Hosting", 2)
		if acct.Login != "acme-hosting" || acct.LicenseLimit != 2 || acct.UsedLicenses != 0 {
			t.Fatalf("created %+v", acct)
		}
		e.Expect("CONFLICT", "", r.Token, create, map[string]any{"in": map[string]any{"login": "ACME-hosting", "licenseLimit": 1}})
		e.Expect("BAD_USER_INPUT", "login", r.Token, create, map[string]any{"in": map[string]any{"login": "no way", "licenseLimit": 1}})
		e.Expect("BAD_USER_INPUT", "licenseLimit", r.Token, create, map[string]any{"in": map[string]any{"login": "neg", "licenseLimit": -1}})
		e.Expect("BAD_USER_INPUT", "email", r.Token, create, map[string]any{"in": map[string]any{"login": "bad-mail", "licenseLimit": 1, "email": "nope"}})

		keyID, keyToken := key(t, e, r.Token, acct.ID)
		// No token needed: the key is the credential.
		var reg struct {
			RegisterServer struct {
				Credential string
				Server     struct{ ID, Hostname, IP string }
			}
		}
		res := registerServer(e, keyToken, "node1")
		if err := jsonData(res, &reg); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(reg.RegisterServer.Credential, "clnd_srv_") || reg.RegisterServer.Server.Hostname != "node1" {
			t.Fatalf("registered %+v", reg)
		}
		if res := registerServer(e, keyToken, "node2"); res.Code() != "" {
			t.Fatalf("second server: %s", res.Raw)
		}
		if res := registerServer(e, keyToken, "node3"); res.Code() != "LIMIT_REACHED" {
			t.Fatalf("third server on a limit of 2: %s", res.Raw)
		}
		if res := registerServer(e, "1-not-a-key", "x"); res.Code() != "NOT_FOUND" {
			t.Fatalf("unknown key: %s", res.Raw)
		}
		// The credential checks in.
		var ci struct{ CheckIn struct{ Licensed []string } }
		e.Query("", apitest.CheckInMutation, map[string]any{"cred": reg.RegisterServer.Credential, "host": "node1"}, &ci)
		if strings.Join(ci.CheckIn.Licensed, ",") != "CLOUDLINUX_OS" {
			t.Fatalf("check-in: %+v", ci)
		}

		// The limit cannot go below the servers registered.
		e.Expect("CONFLICT", "", r.Token, update, map[string]any{"id": acct.ID, "in": map[string]any{"licenseLimit": 1}})
		var up struct {
			UpdateServerAccount struct{ ServerAccount account }
		}
		e.Query(r.Token, update, map[string]any{"id": acct.ID, "in": map[string]any{"licenseLimit": 5, "company": "Acme"}}, &up)
		if got := up.UpdateServerAccount.ServerAccount; got.LicenseLimit != 5 || got.UsedLicenses != 2 || got.Company != "Acme" {
			t.Fatalf("updated %+v", got)
		}
		var sum struct {
			AccountSummary struct {
				TotalLicenses, UnusedLicenses int
				LicenseCostPerMonth           string
			}
		}
		e.Query(r.Token, `{ accountSummary { totalLicenses unusedLicenses licenseCostPerMonth } }`, nil, &sum)
		if s := sum.AccountSummary; s.TotalLicenses != 5 || s.UnusedLicenses != 3 || s.LicenseCostPerMonth != "155.00" {
			t.Fatalf("summary %+v", s)
		}

		// Removing the key keeps its servers; removing a server frees its place.
		e.Query(r.Token, `mutation($id: ID!) { removeActivationKey(id: $id) { removedID } }`, map[string]any{"id": keyID}, nil)
		var servers struct {
			Node struct {
				UsedLicenses int
				Keys         []struct{ ID string }
				Servers      struct {
					TotalCount int
					Edges      []struct{ Node struct{ ID string } }
				}
			}
		}
		const read = `query($id: ID!) { node(id: $id) { ... on ServerAccount { usedLicenses keys { id } servers { totalCount edges { node { id } } } } } }`
		e.Query(r.Token, read, map[string]any{"id": acct.ID}, &servers)
		if servers.Node.Servers.TotalCount != 2 || len(servers.Node.Keys) != 0 {
			t.Fatalf("after removing the key: %+v", servers.Node)
		}
		e.Query(r.Token, `mutation($id: ID!) { removeServer(id: $id) { removedID } }`,
			map[string]any{"id": servers.Node.Servers.Edges[0].Node.ID}, nil)
		e.Query(r.Token, read, map[string]any{"id": acct.ID}, &servers)
		if servers.Node.UsedLicenses != 1 || servers.Node.Servers.TotalCount != 1 {
			t.Fatalf("after removing a server: %+v", servers.Node)
		}

		_, keyToken2 := key(t, e, r.Token, acct.ID)
		// Removing the account removes its keys and servers and stops its
		// billing; the account itself stays reachable by ID, marked removed,
		// and is gone from the list, the summary and a second removal.
		e.Query(r.Token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": acct.ID}, nil)
		var removed struct {
			Node struct {
				RemovedAt    *string
				UsedLicenses int
				Keys         []struct{ ID string }
				Servers      struct{ TotalCount int }
			}
		}
		e.Query(r.Token, `query($id: ID!) { node(id: $id) { ... on ServerAccount { removedAt usedLicenses keys { id } servers { totalCount } } } }`,
			map[string]any{"id": acct.ID}, &removed)
		if n := removed.Node; n.RemovedAt == nil || n.UsedLicenses != 0 || len(n.Keys) != 0 || n.Servers.TotalCount != 0 {
			t.Fatalf("removed account: %+v", n)
		}
		var list struct{ ServerAccounts struct{ TotalCount int } }
		e.Query(r.Token, `{ serverAccounts { totalCount } }`, nil, &list)
		if list.ServerAccounts.TotalCount != 0 {
			t.Fatalf("a removed account is listed: %+v", list)
		}
		e.Query(r.Token, `{ accountSummary { totalLicenses unusedLicenses licenseCostPerMonth } }`, nil, &sum)
		if s := sum.AccountSummary; s.TotalLicenses != 0 || s.UnusedLicenses != 0 || s.LicenseCostPerMonth != "0.00" {
			t.Fatalf("summary after removal %+v", s)
		}
		e.Expect("NOT_FOUND", "", r.Token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": acct.ID})
		e.Expect("NOT_FOUND", "", "", register, map[string]any{"key": keyToken2, "host": "late", "ip": "198.51.100.9"})
		// Its login is free again.
		if again := createAccount(t, e, r.Token, "acme-hosting", 0); again.ID == acct.ID {
			t.Fatalf("the login was not reused: %+v", again)
		}
		e.Expect("UNAUTHENTICATED", "", "", apitest.CheckInMutation, map[string]any{"cred": reg.RegisterServer.Credential})
		ctx := viewer.SystemContext(e.Ctx())
		open, _ := e.DB.Client.BillableRun.Query().Where(billablerun.SubjectID(acct.ID), billablerun.EndedAtIsNil()).Count(ctx)
		runs, _ := e.DB.Client.BillableRun.Query().Where(billablerun.SubjectID(acct.ID)).Count(ctx)
		if open != 0 || runs != 2 { // limit 2, then limit 5
			t.Fatalf("%d runs, %d open", runs, open)
		}
	})
}

func TestRegistrationsNeverOverfillAnAccount(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		acct := createAccount(t, e, r.Token, "race", 3)
		_, keyToken := key(t, e, r.Token, acct.ID)
		counts := e.Race(12, func(i int) apitest.Request {
			return apitest.Request{Query: register, Variables: map[string]any{"key": keyToken, "host": fmt.Sprintf("n%d", i), "ip": "198.51.100.5"}}
		})
		if counts[""] != 3 || counts["LIMIT_REACHED"] != 9 {
			t.Fatalf("answers by code: %v", counts)
		}
	})
}

func TestPastDueCannotRaiseLimits(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		acct := createAccount(t, e, r.Token, "acct", 1)
		ctx := viewer.SystemContext(e.Ctx())
		if err := e.DB.Client.Reseller.UpdateOneID(r.ID).SetStatus(reseller.StatusPAST_DUE).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		e.Expect("PAYMENT_REQUIRED", "", r.Token, create, map[string]any{"in": map[string]any{"login": "more", "licenseLimit": 1}})
		e.Expect("PAYMENT_REQUIRED", "", r.Token, update, map[string]any{"id": acct.ID, "in": map[string]any{"licenseLimit": 2}})
		// Lowering is always allowed: it reduces what is owed.
		e.Query(r.Token, update, map[string]any{"id": acct.ID, "in": map[string]any{"licenseLimit": 0}}, nil)
	})
}

func TestServerAccountsAreIsolated(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		b := e.Register("bob")
		bAcct := createAccount(t, e, b.Token, "bobs", 2)
		bKeyID, bKey := key(t, e, b.Token, bAcct.ID)
		var reg struct {
			RegisterServer struct{ Server struct{ ID string } }
		}
		if err := jsonData(registerServer(e, bKey, "bnode"), &reg); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			query string
			vars  map[string]any
		}{
			{update, map[string]any{"id": bAcct.ID, "in": map[string]any{"licenseLimit": 1}}},
			{`mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": bAcct.ID}},
			{newKey, map[string]any{"id": bAcct.ID}},
			{`mutation($id: ID!) { removeActivationKey(id: $id) { removedID } }`, map[string]any{"id": bKeyID}},
			{`mutation($id: ID!) { removeServer(id: $id) { removedID } }`, map[string]any{"id": reg.RegisterServer.Server.ID}},
			{`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": bKeyID}},
			{`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": reg.RegisterServer.Server.ID}},
		} {
			e.Expect("NOT_FOUND", "", a.Token, c.query, c.vars)
		}
		var still struct {
			ServerAccounts struct {
				Edges []struct{ Node account }
			}
		}
		e.Query(b.Token, `{ serverAccounts { edges { node { id licenseLimit usedLicenses } } } }`, nil, &still)
		if got := still.ServerAccounts.Edges; len(got) != 1 || got[0].Node.LicenseLimit != 2 || got[0].Node.UsedLicenses != 1 {
			t.Fatalf("B's account after A's attempts: %+v", got)
		}
	})
}
