package server_test

import (
	"strings"
	"testing"

	"clnd/ent/checkout"
	"clnd/internal/apitest"
	"clnd/internal/money"
	"clnd/internal/seed"
	"clnd/internal/viewer"
)

const everythingOfAReseller = `query($login: String!) {
	resellers(first: 1, where: {login: $login}) { edges { node { id
		paymentMethods { id }
		ipLicenses(first: 50) { edges { node { id backup { id } } } }
		serverAccounts(first: 10) { edges { node { id keys { id } servers(first: 10) { edges { node { id } } } } } }
		invoices(first: 20) { edges { node { id lines { id items { id } } } } }
		transactions(first: 100) { edges { node { id } } }
	} } }
}`

// TestTenantIsolation: reseller A can neither see nor touch anything of
// reseller B's, through any node type, list or mutation, and B's data is
// unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		// B is the demo reseller: licenses, backups, server accounts with keys
		// and servers, invoices with lines and items, transactions, a card.
		if _, err := seed.Demo(e.Ctx(), e.DB.Client); err != nil {
			t.Fatal(err)
		}
		var login struct{ Login struct{ Token string } }
		e.Query("", `mutation { login(input: {login: "demo", password: "demo-password"}) { token } }`, nil, &login)
		bToken := login.Login.Token
		var tok struct {
			CreateAPIToken struct {
				Token    string
				APIToken struct{ ID string }
			}
		}
		e.Query(bToken, `mutation { createAPIToken(input: {name: "b", scope: READ}) { token apiToken { id } } }`, nil, &tok)
		bReseller := e.Do(apitest.Request{Token: e.OperatorToken, Query: everythingOfAReseller, Variables: map[string]any{"login": "demo"}})
		if len(bReseller.Errors) > 0 {
			t.Fatalf("reading B: %s", bReseller.Raw)
		}
		bIDs := append(apitest.CollectIDs(bReseller.Data), tok.CreateAPIToken.APIToken.ID)
		var bID string
		for _, id := range bIDs {
			if strings.HasPrefix(id, "rsl_") {
				bID = id
			}
		}
		ctx := viewer.SystemContext(e.Ctx())
		chk, err := e.DB.Client.Checkout.Create().SetResellerID(bID).SetAmount(money.MustParse("50.00")).
			SetProvider("sandbox").SetStatus(checkout.StatusPENDING).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bIDs = append(bIDs, chk.ID)
		prefixes := map[string]bool{}
		for _, id := range bIDs {
			prefixes[strings.SplitN(id, "_", 2)[0]] = true
		}
		for _, p := range []string{"rsl", "pmt", "ipl", "bkp", "sac", "akey", "srv", "inv", "inl", "iit", "txn", "atk", "chk"} {
			if !prefixes[p] {
				t.Fatalf("B has no object of type %q to test with (have %v)", p, prefixes)
			}
		}
		before := e.Do(apitest.Request{Token: e.OperatorToken, Query: everythingOfAReseller, Variables: map[string]any{"login": "demo"}}).Raw

		a := e.Register("alice")
		aRead := func() string {
			var t2 struct {
				CreateAPIToken struct{ Token string }
			}
			e.Query(a.Token, `mutation { createAPIToken(input: {name: "a", scope: READ}) { token } }`, nil, &t2)
			return t2.CreateAPIToken.Token
		}()
		for _, who := range []struct{ name, token string }{{"session", a.Token}, {"READ token", aRead}} {
			// Every node of B's is NOT_FOUND, one by one ...
			for _, id := range bIDs {
				r := e.Do(apitest.Request{Token: who.token, Query: `query($id: ID!) { node(id: $id) { id } }`, Variables: map[string]any{"id": id}})
				if r.Code() != "NOT_FOUND" || string(r.Data) != `{"node":null}` {
					t.Fatalf("%s of A reads B's %s: %s", who.name, id, r.Raw)
				}
			}
			// ... and all at once.
			r := e.Do(apitest.Request{Token: who.token, Query: `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, Variables: map[string]any{"ids": bIDs}})
			if len(r.Errors) != len(bIDs) || strings.Contains(string(r.Data), `"id"`) {
				t.Fatalf("%s of A: nodes(B's IDs) = %s", who.name, r.Raw)
			}
			for _, err := range r.Errors {
				if err.Extensions["code"] != "NOT_FOUND" {
					t.Fatalf("nodes error %+v", err)
				}
			}
			// Lists hold only A's own things, even when A names B.
			lists := e.Do(apitest.Request{Token: who.token, Query: `query($b: ID!) {
				ipLicenses { totalCount } serverAccounts { totalCount }
				invoices { edges { node { id } } } transactions { edges { node { id } } }
				apiTokens { id } named: ipLicenses(resellerID: $b) { totalCount }
				viewer { reseller { id paymentMethods { id } } }
			}`, Variables: map[string]any{"b": bID}})
			if len(lists.Errors) > 0 {
				t.Fatalf("lists: %s", lists.Raw)
			}
			for _, id := range apitest.CollectIDs(lists.Data) {
				for _, bid := range bIDs {
					if id == bid {
						t.Fatalf("%s of A lists B's %s: %s", who.name, id, lists.Raw)
					}
				}
			}
			if strings.Contains(string(lists.Data), `"totalCount":8`) || strings.Contains(string(lists.Data), `"totalCount":2`) {
				t.Fatalf("%s of A counts B's things: %s", who.name, lists.Raw)
			}
			e.Expect("NOT_FOUND", "", who.token, `query($b: ID!) { accountSummary(resellerID: $b) { totalLicenses } }`, map[string]any{"b": bID})
			e.Expect("FORBIDDEN", "", who.token, `{ resellers { totalCount } }`, nil)
		}
		// A cannot change or remove B's things, by any mutation that takes an ID.
		e.Expect("NOT_FOUND", "", a.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`,
			map[string]any{"id": tok.CreateAPIToken.APIToken.ID})
		var bLicense string
		for _, id := range bIDs {
			if strings.HasPrefix(id, "ipl_") {
				bLicense = id
			}
		}
		for _, m := range []string{
			`mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`,
			`mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 5, datacenter: "us-east"}) { backup { id } } }`,
			`mutation($id: ID!) { deactivateBackup(licenseID: $id) { license { id } } }`,
		} {
			e.Expect("NOT_FOUND", "", a.Token, m, map[string]any{"id": bLicense})
		}
		e.Expect("NOT_FOUND", "", a.Token, `mutation($b: ID!) { addIPLicense(input: {ip: "203.0.113.250", type: KERNELCARE, resellerID: $b}) { license { id } } }`,
			map[string]any{"b": bID})
		// A's own removal that names one of B's licenses removes nothing at all.
		aLicense := e.AddLicense(a.Token, "203.0.113.251", "KERNELCARE", "")
		e.Expect("NOT_FOUND", "", a.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`,
			map[string]any{"ids": []string{aLicense, bLicense}})
		e.Query(a.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{aLicense}}, nil)
		e.Query(tok.CreateAPIToken.Token, `{ viewer { role } }`, nil, nil) // B's token still works

		// A's own objects do resolve, so the NOT_FOUNDs above are isolation, not breakage.
		var own struct{ Node struct{ ID string } }
		e.Query(a.Token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": a.ID}, &own)
		if own.Node.ID != a.ID {
			t.Fatalf("A cannot read itself: %+v", own)
		}
		after := e.Do(apitest.Request{Token: e.OperatorToken, Query: everythingOfAReseller, Variables: map[string]any{"login": "demo"}}).Raw
		if string(before) != string(after) {
			t.Fatalf("B's data changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}
