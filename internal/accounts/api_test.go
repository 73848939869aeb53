package accounts_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clnd/ent/invoice"
	"clnd/ent/reseller"
	"clnd/internal/accounts"
	"clnd/internal/apitest"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/pgtest"
	"clnd/internal/server"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRegisterWithVisa(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		var out struct {
			Viewer struct {
				Role     string
				Reseller struct {
					ID, Login, Balance, Status, BillingEmail string
					PaymentMethods                           []struct {
						Kind, Label string
						IsDefault   bool
					}
					Transactions struct {
						Edges []struct {
							Node struct {
								Kind, Amount, BalanceAfter string
								Invoice                    struct{ Type, Total string }
							}
						}
					}
				}
			}
		}
		e.Query(r.Token, `{ viewer { role reseller { id login balance status billingEmail
			paymentMethods { kind label isDefault }
			transactions { edges { node { kind amount balanceAfter invoice { type total } } } } } } }`, nil, &out)
		me := out.Viewer.Reseller
		if out.Viewer.Role != "RESELLER" || me.ID != r.ID || me.Balance != "250.00" || me.Status != "ACTIVE" {
			t.Fatalf("viewer = %+v", out.Viewer)
		}
		if len(me.PaymentMethods) != 1 || me.PaymentMethods[0].Label != "Visa •••• 4242" || !me.PaymentMethods[0].IsDefault {
			t.Fatalf("payment methods = %+v", me.PaymentMethods)
		}
		txs := me.Transactions.Edges
		if len(txs) != 1 || txs[0].Node.Kind != "DEPOSIT" || txs[0].Node.Amount != "250.00" || txs[0].Node.BalanceAfter != "250.00" ||
			txs[0].Node.Invoice.Type != "PAYMENT_RECEIVED" || txs[0].Node.Invoice.Total != "250.00" {
			t.Fatalf("transactions = %+v", txs)
		}
	})
}

func TestRegisterDeclinedLeavesNothing(t *testing.T) {
	for _, token := range []string{"tok_chargeDeclined", "tok_insufficientFunds"} {
		apitest.Each(t, func(t *testing.T, e *apitest.Env) {
			in := apitest.RegistrationInput("bob")
			in["paymentMethod"] = map[string]any{"gatewayToken": token}
			r := e.Expect("PAYMENT_FAILED", "", "", apitest.RegisterMutation, map[string]any{"input": in})
			if r.Errors[0].Message == "" {
				t.Fatal("no reason given")
			}
			ctx := viewer.SystemContext(e.Ctx())
			c := e.DB.Client
			counts := map[string]int{}
			counts["resellers"], _ = c.Reseller.Query().Count(ctx)
			counts["payment methods"], _ = c.PaymentMethod.Query().Count(ctx)
			counts["transactions"], _ = c.Transaction.Query().Count(ctx)
			counts["invoices"], _ = c.Invoice.Query().Count(ctx)
			counts["sessions"], _ = c.Session.Query().Count(ctx)
			for what, n := range counts {
				if n != 0 {
					t.Errorf("a declined registration left %d %s", n, what)
				}
			}
			// The same login can register once the card works.
			e.Query("", apitest.RegisterMutation, map[string]any{"input": apitest.RegistrationInput("bob")}, nil)
		})
	}
}

func TestRegisterBadInput(t *testing.T) {
	cases := []struct {
		name, field string
		edit        func(map[string]any)
	}{
		{"short password", "password", func(in map[string]any) { in["password"] = "123456789" }},
		{"login with bad characters", "login", func(in map[string]any) { in["login"] = "bad login!" }},
		{"login too short", "login", func(in map[string]any) { in["login"] = "ab" }},
		{"bad email", "billingEmail", func(in map[string]any) { in["billingEmail"] = "not-an-email" }},
		{"deposit below minimum", "initialDeposit", func(in map[string]any) { in["initialDeposit"] = "99.99" }},
		{"deposit with three decimals", "initialDeposit", func(in map[string]any) { in["initialDeposit"] = "150.001" }},
		{"deposit as a number", "initialDeposit", func(in map[string]any) { in["initialDeposit"] = 150 }},
		{"agreement not accepted", "acceptAgreement", func(in map[string]any) { in["acceptAgreement"] = false }},
		{"unknown gateway token", "gatewayToken", func(in map[string]any) { in["paymentMethod"] = map[string]any{"gatewayToken": "tok_bogus"} }},
	}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := apitest.RegistrationInput("carol")
				c.edit(in)
				e.Expect("BAD_USER_INPUT", c.field, "", apitest.RegisterMutation, map[string]any{"input": in})
			})
		}
		n, _ := e.DB.Client.Reseller.Query().Count(viewer.SystemContext(e.Ctx()))
		if n != 0 {
			t.Fatalf("bad input created %d resellers", n)
		}
	})
}

func TestRegisterIsIdempotent(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		in := apitest.RegistrationInput("dave")
		in["idempotencyKey"] = "signup-dave-1"
		const n = 50
		var wg sync.WaitGroup
		ids := make([]string, n)
		codes := make([]string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := e.Do(apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": in}})
				codes[i] = r.Code()
				var out struct {
					RegisterReseller struct{ Reseller struct{ ID string } }
				}
				if r.Code() == "" {
					_ = jsonUnmarshal(r.Data, &out)
					ids[i] = out.RegisterReseller.Reseller.ID
				}
			}(i)
		}
		wg.Wait()
		for i := range codes {
			if codes[i] != "" || ids[i] == "" || ids[i] != ids[0] {
				t.Fatalf("request %d: code %q, reseller %q (first %q)", i, codes[i], ids[i], ids[0])
			}
		}
		ctx := viewer.SystemContext(e.Ctx())
		if got, _ := e.DB.Client.Reseller.Query().Count(ctx); got != 1 {
			t.Fatalf("%d resellers for one idempotency key", got)
		}
		if got, _ := e.DB.Client.Transaction.Query().Count(ctx); got != 1 {
			t.Fatalf("%d deposits for one idempotency key", got)
		}
		// The header works like the input field, and a different input under the same key is refused.
		changed := apitest.RegistrationInput("dave")
		changed["initialDeposit"] = "300.00"
		r := e.Do(apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": changed},
			Header: map[string]string{"Idempotency-Key": "signup-dave-1"}})
		if r.Code() != "IDEMPOTENCY_CONFLICT" {
			t.Fatalf("changed input under the same key: %s", r.Raw)
		}
		// The key in the input and the header must agree, and keys are bounded.
		mismatch := e.Do(apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": in},
			Header: map[string]string{"Idempotency-Key": "another-key"}})
		if mismatch.Code() != "BAD_USER_INPUT" || mismatch.Field() != "idempotencyKey" {
			t.Fatalf("input and header keys differ: %s", mismatch.Raw)
		}
		long := apitest.RegistrationInput("dave")
		long["idempotencyKey"] = strings.Repeat("k", 256)
		e.Expect("BAD_USER_INPUT", "idempotencyKey", "", apitest.RegisterMutation, map[string]any{"input": long})
		wrongPassword := apitest.RegistrationInput("dave")
		wrongPassword["idempotencyKey"] = "signup-dave-1"
		wrongPassword["password"] = "another password!"
		e.Expect("IDEMPOTENCY_CONFLICT", "", "", apitest.RegisterMutation, map[string]any{"input": wrongPassword})
	})
}

func TestRegisterSameLoginRace(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		const n = 50
		counts := e.Race(n, func(i int) apitest.Request {
			in := apitest.RegistrationInput("erin")
			in["login"] = []string{"erin", "ERIN", "Erin"}[i%3] // logins ignore case
			in["idempotencyKey"] = fmt.Sprintf("key-%d", i)
			return apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": in}}
		})
		won := counts[""]
		if counts["CONFLICT"] != n-1 {
			t.Errorf("answers by code: %v; want one success and CONFLICT for the rest", counts)
		}
		ctx := viewer.SystemContext(e.Ctx())
		resellers, _ := e.DB.Client.Reseller.Query().Where(reseller.Login("erin")).Count(ctx)
		deposits, _ := e.DB.Client.Invoice.Query().Where(invoice.TypeEQ(invoice.TypePAYMENT_RECEIVED)).Count(ctx)
		if won != 1 || resellers != 1 || deposits != 1 {
			t.Fatalf("%d won, %d resellers, %d receipts; want 1 each", won, resellers, deposits)
		}
	})
}

func TestLoginLogoutAndExpiry(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Register("frank")
		const login = `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { token expiresAt reseller { login } } }`
		var out struct {
			Login struct {
				Token     string
				ExpiresAt time.Time
				Reseller  struct{ Login string }
			}
		}
		e.Query("", login, map[string]any{"l": "FRANK", "p": "correct horse battery"}, &out)
		if out.Login.Reseller.Login != "frank" || !out.Login.ExpiresAt.After(apitest.Start) {
			t.Fatalf("login = %+v", out.Login)
		}
		token := out.Login.Token
		e.Query(token, `{ viewer { role } }`, nil, nil)

		// Logout ends that session only.
		var lo struct{ Logout bool }
		e.Query(token, `mutation { logout }`, nil, &lo)
		if !lo.Logout {
			t.Fatal("logout answered false")
		}
		e.Expect("UNAUTHENTICATED", "", token, `{ viewer { role } }`, nil)
		e.Expect("FORBIDDEN", "", e.OperatorToken, `mutation { logout }`, nil)

		// A session ends when the test clock passes its expiry.
		e.Query("", login, map[string]any{"l": "frank", "p": "correct horse battery"}, &out)
		token = out.Login.Token
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": out.Login.ExpiresAt.Add(time.Second)}, nil)
		e.Expect("UNAUTHENTICATED", "", token, `{ viewer { role } }`, nil)
	})
}

func TestRepeatedFailedLoginsAreRateLimited(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Register("grace")
		const login = `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { token } }`
		e.Expect("UNAUTHENTICATED", "", "", login, map[string]any{"l": "nobody-here", "p": "whatever12345"})
		for i := 0; i < 5; i++ {
			e.Expect("UNAUTHENTICATED", "", "", login, map[string]any{"l": "grace", "p": "wrong password"})
		}
		// Now even the right password is refused for a while.
		e.Expect("RATE_LIMITED", "", "", login, map[string]any{"l": "grace", "p": "correct horse battery"})
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": apitest.Start.Add(16 * time.Minute)}, nil)
		e.Query("", login, map[string]any{"l": "grace", "p": "correct horse battery"}, nil)
	})
}

func TestAPITokens(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("heidi")
		const create = `mutation($n: String!, $s: APITokenScope!) { createAPIToken(input: {name: $n, scope: $s}) { token apiToken { id name scope createdAt lastUsedAt } } }`
		type created struct {
			CreateAPIToken struct {
				Token    string
				APIToken struct {
					ID, Name, Scope string
					LastUsedAt      *time.Time
				}
			}
		}
		var ro, rw created
		e.Query(r.Token, create, map[string]any{"n": "dashboard", "s": "READ"}, &ro)
		e.Query(r.Token, create, map[string]any{"n": "billing sync", "s": "READ_WRITE"}, &rw)
		if ro.CreateAPIToken.Token == "" || ro.CreateAPIToken.APIToken.Scope != "READ" || ro.CreateAPIToken.APIToken.LastUsedAt != nil {
			t.Fatalf("created %+v", ro)
		}
		// A READ token reads, but every mutation is FORBIDDEN.
		var me struct {
			Viewer struct{ Reseller struct{ Login string } }
		}
		e.Query(ro.CreateAPIToken.Token, `{ viewer { reseller { login } } }`, nil, &me)
		if me.Viewer.Reseller.Login != "heidi" {
			t.Fatalf("READ token sees %+v", me)
		}
		e.Expect("FORBIDDEN", "", ro.CreateAPIToken.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`,
			map[string]any{"id": ro.CreateAPIToken.APIToken.ID})
		// Tokens cannot mint tokens.
		e.Expect("FORBIDDEN", "", rw.CreateAPIToken.Token, create, map[string]any{"n": "x", "s": "READ"})
		e.Expect("BAD_USER_INPUT", "name", r.Token, create, map[string]any{"n": "  ", "s": "READ"})

		// The list shows both, with lastUsedAt once used; no field shows a secret.
		var list struct {
			APITokens []struct {
				Name       string
				LastUsedAt *time.Time
			}
		}
		e.Query(r.Token, `{ apiTokens { name lastUsedAt } }`, nil, &list)
		if len(list.APITokens) != 2 || list.APITokens[0].LastUsedAt == nil {
			t.Fatalf("apiTokens = %+v", list.APITokens)
		}
		// A READ_WRITE token may revoke itself; then it stops working.
		e.Query(rw.CreateAPIToken.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`,
			map[string]any{"id": rw.CreateAPIToken.APIToken.ID}, nil)
		e.Expect("UNAUTHENTICATED", "", rw.CreateAPIToken.Token, `{ viewer { role } }`, nil)
		e.Expect("NOT_FOUND", "", r.Token, `mutation($id: ID!) { revokeAPIToken(id: $id) { revokedID } }`,
			map[string]any{"id": rw.CreateAPIToken.APIToken.ID})
	})
}

func TestSweepRemovesWhatExpired(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		e.Register("ivan") // one session, valid for 7 days
		e.Expect("UNAUTHENTICATED", "", "", `mutation { login(input: {login: "ivan", password: "wrong password"}) { token } }`, nil)
		in := apitest.RegistrationInput("judy")
		in["idempotencyKey"] = "k1"
		e.Query("", apitest.RegisterMutation, map[string]any{"input": in}, nil)
		svc := accounts.NewService(nil)
		ctx := viewer.SystemContext(e.Ctx())
		count := func() (int, int, int) {
			s, _ := e.DB.Client.Session.Query().Count(ctx)
			f, _ := e.DB.Client.LoginFailure.Query().Count(ctx)
			k, _ := e.DB.Client.IdempotencyRecord.Query().Count(ctx)
			return s, f, k
		}
		if n, err := svc.Sweep(e.Ctx(), e.DB.Client); err != nil || n != 0 {
			t.Fatalf("nothing has expired yet, but Sweep removed %d (%v)", n, err)
		}
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": apitest.Start.Add(8 * 24 * time.Hour)}, nil)
		if _, err := svc.Sweep(e.Ctx(), e.DB.Client); err != nil {
			t.Fatal(err)
		}
		if s, f, k := count(); s+f+k != 0 {
			t.Fatalf("left %d sessions, %d login attempts, %d idempotency keys", s, f, k)
		}
	})
}

// Summaries in an operator's reseller list (computed together) agree with
// each reseller's own accountSummary.
func TestSummariesInListsMatchAccountSummary(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		b := e.Register("bob")
		e.Register("carol") // nothing at all
		e.AddLicense(a.Token, "203.0.113.1", "CLOUDLINUX_OS", "")
		e.AddLicense(a.Token, "203.0.113.1", "KERNELCARE", "")
		lic := e.AddLicense(b.Token, "203.0.113.2", "IMUNIFY360_UNLIMITED", "")
		e.Query(b.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 25, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic}, nil)
		type summary struct {
			TotalLicenses, UnusedLicenses, IPLicenses int
			LicenseCostPerMonth                       string
		}
		var list struct {
			Resellers struct {
				Edges []struct {
					Node struct {
						Login   string
						Summary summary
					}
				}
			}
		}
		const fields = `totalLicenses unusedLicenses ipLicenses licenseCostPerMonth`
		e.Query(e.OperatorToken, `{ resellers(orderBy: {field: LOGIN}) { edges { node { login summary { `+fields+` } } } } }`, nil, &list)
		want := map[string]summary{
			"alice": {TotalLicenses: 2, IPLicenses: 2, LicenseCostPerMonth: "34.00"},
			"bob":   {TotalLicenses: 1, IPLicenses: 1, LicenseCostPerMonth: "47.50"},
			"carol": {LicenseCostPerMonth: "0.00"},
		}
		if len(list.Resellers.Edges) != 3 {
			t.Fatalf("%d resellers listed", len(list.Resellers.Edges))
		}
		for _, edge := range list.Resellers.Edges {
			if got := edge.Node.Summary; got != want[edge.Node.Login] {
				t.Errorf("%s: listed summary %+v, want %+v", edge.Node.Login, got, want[edge.Node.Login])
			}
		}
		for _, r := range []apitest.Reseller{a, b} {
			var own struct{ AccountSummary summary }
			e.Query(r.Token, `{ accountSummary { `+fields+` } }`, nil, &own)
			if own.AccountSummary != want[r.Login] {
				t.Errorf("%s: accountSummary %+v, want %+v", r.Login, own.AccountSummary, want[r.Login])
			}
		}
	})
}

// recordingGateway is the sandbox gateway, counting what it charges and refunds.
type recordingGateway struct {
	payments.Sandbox
	charged, refunded atomic.Int64
}

func (g *recordingGateway) Charge(ctx context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	c, err := g.Sandbox.Charge(ctx, r)
	if err == nil {
		g.charged.Add(int64(r.Amount))
	}
	return c, err
}

func (g *recordingGateway) Refund(_ context.Context, r payments.RefundRequest) (payments.Refund, error) {
	g.refunded.Add(int64(r.Amount))
	return payments.Refund{ID: "re_test", Amount: r.Amount}, nil
}

// Whoever loses a race for a login after being charged gets the money back:
// the gateway keeps exactly one deposit.
func TestLostRegistrationRaceIsRefunded(t *testing.T) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			g := &recordingGateway{}
			e := apitest.New(t, backend, apitest.WithConfig(func(c *server.Config) { c.Gateway = g }))
			counts := e.Race(20, func(i int) apitest.Request {
				in := apitest.RegistrationInput("kate")
				in["idempotencyKey"] = fmt.Sprintf("k-%d", i)
				return apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": in}}
			})
			if counts[""] != 1 {
				t.Fatalf("answers by code: %v", counts)
			}
			t.Logf("charged %d, refunded %d", g.charged.Load(), g.refunded.Load())
			if kept := g.charged.Load() - g.refunded.Load(); kept != int64(money.MustParse("250.00")) {
				t.Fatalf("charged %d, refunded %d cents: the gateway keeps %d, want one deposit", g.charged.Load(), g.refunded.Load(), kept)
			}
		})
	}
}
