package clnapi_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"clnd/ent/clnsecret"
	"clnd/ent/reseller"
	"clnd/internal/apitest"
	"clnd/internal/clnapi"
	"clnd/internal/pgtest"
	"clnd/internal/sealed"
	"clnd/internal/server"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const createSecret = `mutation { createCLNSecret { secret login clnSecret { id createdAt lastUsedAt } } }`

// newClient registers a reseller, makes it a CLN secret through GraphQL and
// returns a protocol client for it.
func newClient(t *testing.T, e *apitest.Env, login string) (*client, apitest.Reseller) {
	t.Helper()
	r := e.Register(login)
	var out struct {
		CreateCLNSecret struct {
			Secret, Login string
			ClnSecret     struct{ ID string }
		}
	}
	e.Query(r.Token, createSecret, nil, &out)
	if out.CreateCLNSecret.Login != login || len(out.CreateCLNSecret.Secret) < 32 {
		t.Fatalf("createCLNSecret: %+v", out.CreateCLNSecret)
	}
	return &client{t: t, base: e.Server.URL, login: out.CreateCLNSecret.Login, secret: out.CreateCLNSecret.Secret}, r
}

// gqlLicenses is what GraphQL shows of a reseller's licenses.
func gqlLicenses(t *testing.T, e *apitest.Env, token string) []struct {
	ID, IP, Type string
	CreatedAt    time.Time
	Backup       *struct {
		SizeGB     int
		Datacenter struct{ Code string }
	}
} {
	t.Helper()
	var out struct {
		IPLicenses struct {
			Edges []struct {
				Node struct {
					ID, IP, Type string
					CreatedAt    time.Time
					Backup       *struct {
						SizeGB     int
						Datacenter struct{ Code string }
					}
				}
			}
		}
	}
	e.Query(token, `{ ipLicenses(first: 100) { edges { node { id ip type createdAt backup { sizeGB datacenter { code } } } } } }`, nil, &out)
	var ls []struct {
		ID, IP, Type string
		CreatedAt    time.Time
		Backup       *struct {
			SizeGB     int
			Datacenter struct{ Code string }
		}
	}
	for _, edge := range out.IPLicenses.Edges {
		ls = append(ls, edge.Node)
	}
	return ls
}

// The documented protocol end to end: a client registers, lists, checks and
// removes licenses and manages a backup, and GraphQL sees each step.
func TestClientLifecycle(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, r := newClient(t, e, "alice")
		const ip = "203.0.113.10"

		var dcs []struct{ Code, Name string }
		c.ok(&dcs, "ab/datacenters.json")
		if len(dcs) == 0 || dcs[0].Code == "" {
			t.Fatalf("datacenters %+v", dcs)
		}
		var avail struct{ Available, Owned []int }
		c.ok(&avail, "ipl/availability.json", "ip", ip)
		if len(avail.Available) != 9 || len(avail.Owned) != 0 {
			t.Fatalf("availability before: %+v", avail)
		}

		var lic License
		c.ok(&lic, "ipl/register.json", "ip", ip, "type", "1")
		if lic.IP != ip || lic.Type != 1 || lic.Registered || lic.Created != "2026-10-01T00:00+0000" || lic.ID == "" {
			t.Fatalf("registered %+v", lic)
		}
		gql := gqlLicenses(t, e, r.Token)
		if len(gql) != 1 || gql[0].ID != lic.ID || gql[0].Type != "CLOUDLINUX_OS" || !gql[0].CreatedAt.Equal(apitest.Start) {
			t.Fatalf("GraphQL after register: %+v", gql)
		}

		var codes []int
		c.ok(&codes, "ipl/check.json", "ip", ip)
		if len(codes) != 1 || codes[0] != 1 {
			t.Fatalf("check: %v", codes)
		}
		c.ok(&avail, "ipl/availability.json", "ip", ip)
		// CloudLinux OS and Solo share a family: neither can be added now.
		if len(avail.Available) != 7 || len(avail.Owned) != 1 || avail.Owned[0] != 1 {
			t.Fatalf("availability after: %+v", avail)
		}
		var listed []License
		c.ok(&listed, "ipl/list.json")
		if len(listed) != 1 || listed[0] != lic {
			t.Fatalf("list: %+v, want %+v", listed, lic)
		}
		// A check-in makes it registered, with last_checkin.
		if r := e.CheckInFrom(ip, "web1.example.com"); r.Code() != "" {
			t.Fatalf("check-in: %s", r.Raw)
		}
		var servers []struct {
			ServerInfo  string  `json:"server_info"`
			IP          string  `json:"ip"`
			Type        int     `json:"type"`
			Registered  bool    `json:"registered"`
			Created     string  `json:"created"`
			LastCheckin *string `json:"last_checkin"`
		}
		c.ok(&servers, "ipl/server.json", "ip", ip)
		if len(servers) != 1 || !servers[0].Registered || servers[0].ServerInfo != "web1.example.com" ||
			servers[0].LastCheckin == nil || *servers[0].LastCheckin != "2026-10-01T00:00+0000" {
			t.Fatalf("server: %+v", servers)
		}

		// A backup: create, list, resize, remove (twice: removal is idempotent).
		var bk Backup
		c.ok(&bk, "ab/im/create.json", "server_id", lic.ID, "size", "20", "datacenter", dcs[0].Code)
		if bk.ServerID != lic.ID || bk.Size != 20 || bk.Datacenter != dcs[0].Code || bk.IP != ip {
			t.Fatalf("backup %+v", bk)
		}
		var bks []Backup
		c.ok(&bks, "ab/list.json")
		if len(bks) != 1 || bks[0] != bk {
			t.Fatalf("ab/list %+v", bks)
		}
		c.ok(&bk, "ab/resize.json", "server_id", lic.ID, "size", "50")
		if gql := gqlLicenses(t, e, r.Token); gql[0].Backup == nil || gql[0].Backup.SizeGB != 50 {
			t.Fatalf("GraphQL after resize: %+v", gql[0].Backup)
		}
		var removed bool
		c.ok(&removed, "ab/remove.json", "server_id", lic.ID)
		c.ok(&removed, "ab/remove.json", "server_id", lic.ID)
		if gql := gqlLicenses(t, e, r.Token); gql[0].Backup != nil || !removed {
			t.Fatalf("GraphQL after ab/remove: %+v", gql[0].Backup)
		}
		c.ok(&bks, "ab/list.json")
		if len(bks) != 0 {
			t.Fatalf("ab/list after removal: %+v", bks)
		}

		c.ok(&removed, "ipl/remove.json", "ip", ip, "type", "1")
		c.ok(&removed, "ipl/remove.json", "ip", ip)
		if gql := gqlLicenses(t, e, r.Token); len(gql) != 0 {
			t.Fatalf("GraphQL after ipl/remove: %+v", gql)
		}
		c.ok(&codes, "ipl/check.json", "ip", ip)
		c.ok(&listed, "ipl/list.json")
		if len(codes) != 0 || len(listed) != 0 {
			t.Fatalf("after removal: check %v, list %v", codes, listed)
		}

		// POST with a form works like GET.
		a := c.raw(http.MethodPost, "ipl/register.json", url.Values{"token": {c.token()}, "ip": {ip}, "type": {"16"}})
		if !a.Success || a.Status != http.StatusOK {
			t.Fatalf("POST register: HTTP %d %s", a.Status, a.Message)
		}

		// The register billed from its time: a run was opened and closed.
		var acct struct {
			AccountSummary struct{ TotalLicenses int }
		}
		e.Query(r.Token, `{ accountSummary { totalLicenses } }`, nil, &acct)
		if acct.AccountSummary.TotalLicenses != 1 {
			t.Fatalf("summary %+v", acct)
		}
	})
}

func TestErrors(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		c.fails(http.StatusBadRequest, "ipl/register.json", "type", "1")
		c.fails(http.StatusBadRequest, "ipl/register.json", "ip", "203.0.113.5")
		if a := c.fails(http.StatusBadRequest, "ipl/register.json", "ip", "10.0.0.1", "type", "1"); a.Code != "BAD_USER_INPUT" {
			t.Fatalf("private address: %+v", a)
		}
		c.fails(http.StatusBadRequest, "ipl/register.json", "ip", "203.0.113.5", "type", "99")
		c.fails(http.StatusBadRequest, "ipl/register.json", "ip", "203.0.113.5", "type", "one")
		c.fails(http.StatusBadRequest, "ipl/check.json", "ip", "not-an-address")
		c.fails(http.StatusBadRequest, "ipl/availability.json")
		c.fails(http.StatusNotFound, "ipl/nothing.json")
		c.fails(http.StatusNotFound, "ab/im/create.json", "server_id", "ipl_nope", "size", "10", "datacenter", "us-east")
		c.fails(http.StatusNotFound, "ab/remove.json", "server_id", "ipl_nope")
		// An oversized form answers in the API's own shape (hostile finding 13:
		// GraphQL's errors shape, which CLN clients cannot read).
		big := url.Values{"token": {c.token()}, "ip": {"203.0.113.5"}, "pad": {strings.Repeat("x", clnapi.MaxBodyBytes)}}
		if a := c.raw(http.MethodPost, "ipl/check.json", big); a.Status != http.StatusRequestEntityTooLarge || a.Success || a.Message == "" || a.Code != "BAD_USER_INPUT" {
			t.Fatalf("oversized form: %+v", a)
		}

		var lic License
		c.ok(&lic, "ipl/register.json", "ip", "203.0.113.5", "type", "1")
		// The same family at the same address is a CONFLICT.
		if a := c.fails(http.StatusConflict, "ipl/register.json", "ip", "203.0.113.5", "type", "4"); a.Code != "CONFLICT" {
			t.Fatalf("conflict: %+v", a)
		}
		c.fails(http.StatusBadRequest, "ab/im/create.json", "server_id", lic.ID, "size", "0", "datacenter", "us-east")
		c.fails(http.StatusBadRequest, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "mars-1")
		c.fails(http.StatusBadRequest, "ab/im/create.json", "server_id", lic.ID, "size", "100000", "datacenter", "us-east")
		c.fails(http.StatusNotFound, "ab/resize.json", "server_id", lic.ID, "size", "10") // no backup yet
		c.ok(nil, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "us-east")
		c.fails(http.StatusConflict, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "us-east")

		// An Authorization header (a proxy's Basic credentials, say) is not
		// the CLN API's business: the token parameter decides.
		req, err := http.NewRequest(http.MethodGet, c.base+"/api/ipl/list.json?"+url.Values{"token": {c.token()}}.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("with an Authorization header: HTTP %d", resp.StatusCode)
		}

		a := c.raw(http.MethodDelete, "ipl/list.json", url.Values{"token": {c.token()}})
		if a.Status != http.StatusMethodNotAllowed || a.Success {
			t.Fatalf("DELETE: %+v", a)
		}
	})
}

func TestTokens(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, r := newClient(t, e, "alice")
		now := time.Now().Unix()
		call := func(token string) answer {
			return c.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {token}})
		}
		refused := func(what, token, wantIn string) {
			t.Helper()
			a := call(token)
			if a.Success || a.Status != http.StatusUnauthorized || a.Code != "UNAUTHENTICATED" || !strings.Contains(a.Message, wantIn) {
				t.Fatalf("%s: HTTP %d %+v", what, a.Status, a)
			}
		}
		refused("no token", "", "send token=")
		refused("two parts", "alice|123", "send token=")
		refused("not a number", "alice|soon|"+strings.Repeat("0", 40), "send token=")
		refused("expired", tokenAt("alice", c.secret, now-int64(6*time.Minute/time.Second)), "more than 5 minutes")
		refused("from the future", tokenAt("alice", c.secret, now+int64(6*time.Minute/time.Second)), "more than 5 minutes")
		refused("forged", tokenAt("alice", "not the secret", now), "invalid")
		refused("unknown login", tokenAt("nobody", c.secret, now), "invalid")

		// Within 5 minutes either way is accepted, once; the login is
		// case-insensitive like every login.
		old := tokenAt("ALICE", c.secret, now-4*60)
		if a := call(old); !a.Success {
			t.Fatalf("a 4-minute-old token: %+v", a)
		}
		refused("replayed", old, "used before")
		if a := call(tokenAt("alice", c.secret, now+4*60)); !a.Success {
			t.Fatalf("a token 4 minutes ahead: %+v", a)
		}

		// lastUsedAt shows in GraphQL; the plaintext never does.
		var list struct {
			ClnSecrets []struct {
				ID         string
				LastUsedAt *time.Time
			}
		}
		e.Query(r.Token, `{ clnSecrets { id lastUsedAt } }`, nil, &list)
		if len(list.ClnSecrets) != 1 || list.ClnSecrets[0].LastUsedAt == nil {
			t.Fatalf("clnSecrets %+v", list)
		}
		// Revoked: the secret stops working at once.
		e.Query(r.Token, `mutation($id: ID!) { revokeCLNSecret(id: $id) { revokedID } }`, map[string]any{"id": list.ClnSecrets[0].ID}, nil)
		refused("revoked", c.token(), "invalid")
	})
}

// A token is accepted once across instances: the second instance on the
// same database refuses what the first accepted.
func TestReplayAcrossInstances(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		e2 := apitest.Reopen(t, e)
		tok := c.token()
		first := c.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {tok}})
		c2 := &client{t: t, base: e2.Server.URL, login: c.login, secret: c.secret}
		second := c2.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {tok}})
		if !first.Success || second.Success || second.Status != http.StatusUnauthorized {
			t.Fatalf("first %+v, second on another instance %+v", first, second)
		}
		// One token sent ten times at once to both instances: one success.
		tok = c.token()
		results := make(chan bool, 10)
		for i := 0; i < 10; i++ {
			go func(i int) {
				base := c
				if i%2 == 1 {
					base = c2
				}
				results <- base.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {tok}}).Success
			}(i)
		}
		won := 0
		for i := 0; i < 10; i++ {
			if <-results {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("one token sent ten times at once succeeded %d times", won)
		}
	})
}

// Accepted tokens are remembered until they expire, then pruned: the table
// does not grow with traffic.
func TestUsedTokensArePruned(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		ctx := viewer.SystemContext(e.Ctx())
		secret, err := e.DB.Client.CLNSecret.Query().Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		long := time.Now().Add(-time.Hour)
		err = e.DB.Client.CLNTokenUse.Create().SetSecretID(secret.ID).SetSignedAt(long.Unix()).
			SetUsedAt(long).SetKeepUntil(long.Add(clnapi.MaxSkew)).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.ok(nil, "ipl/list.json") // an instance prunes on its first call, then once a minute
		uses, err := e.DB.Client.CLNTokenUse.Query().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(uses) != 1 || uses[0].SignedAt == long.Unix() {
			t.Fatalf("token uses after pruning: %+v", uses)
		}
	})
}

func TestIsolation(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		alice, a := newClient(t, e, "alice")
		bob, _ := newClient(t, e, "bob")
		const ip = "203.0.113.40"
		var lic License
		alice.ok(&lic, "ipl/register.json", "ip", ip, "type", "1")
		alice.ok(nil, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "us-east")

		var listed []License
		bob.ok(&listed, "ipl/list.json")
		var bks []Backup
		bob.ok(&bks, "ab/list.json")
		var servers []any
		bob.ok(&servers, "ipl/server.json", "ip", ip)
		if len(listed) != 0 || len(bks) != 0 || len(servers) != 0 {
			t.Fatalf("bob sees alice's: %v %v %v", listed, bks, servers)
		}
		// Bob may see that the address is licensed (as CLN shows anyone),
		// not by whom; and he cannot take the family.
		var codes []int
		bob.ok(&codes, "ipl/check.json", "ip", ip)
		var avail struct{ Available, Owned []int }
		bob.ok(&avail, "ipl/availability.json", "ip", ip)
		if len(codes) != 1 || len(avail.Owned) != 0 || len(avail.Available) != 7 {
			t.Fatalf("bob: check %v, availability %+v", codes, avail)
		}
		bob.fails(http.StatusConflict, "ipl/register.json", "ip", ip, "type", "4")
		// Removing alice's: nothing of bob's is there, nothing changes.
		bob.ok(nil, "ipl/remove.json", "ip", ip)
		bob.fails(http.StatusNotFound, "ab/remove.json", "server_id", lic.ID)
		bob.fails(http.StatusNotFound, "ab/resize.json", "server_id", lic.ID, "size", "20")
		bob.fails(http.StatusNotFound, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "us-east")
		if gql := gqlLicenses(t, e, a.Token); len(gql) != 1 || gql[0].Backup == nil || gql[0].Backup.SizeGB != 10 {
			t.Fatalf("alice's license after bob's attempts: %+v", gql)
		}
	})
}

func TestPastDue(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, r := newClient(t, e, "alice")
		var lic License
		c.ok(&lic, "ipl/register.json", "ip", "203.0.113.50", "type", "1")
		c.ok(nil, "ab/im/create.json", "server_id", lic.ID, "size", "10", "datacenter", "us-east")
		var bare License
		c.ok(&bare, "ipl/register.json", "ip", "203.0.113.52", "type", "16")
		ctx := viewer.SystemContext(e.Ctx())
		if err := e.DB.Client.Reseller.UpdateOneID(r.ID).SetStatus(reseller.StatusPAST_DUE).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for _, call := range [][]string{
			{"ipl/register.json", "ip", "203.0.113.51", "type", "1"},
			{"ab/im/create.json", "server_id", bare.ID, "size", "10", "datacenter", "us-east"},
			{"ab/resize.json", "server_id", lic.ID, "size", "20"},
		} {
			a := c.fails(http.StatusPaymentRequired, call[0], call[1:]...)
			if a.Code != "PAYMENT_REQUIRED" || !strings.Contains(a.Message, "past due") {
				t.Fatalf("%s: %+v", call[0], a)
			}
		}
		// What lowers the bill still works.
		c.ok(nil, "ab/resize.json", "server_id", lic.ID, "size", "5")
		c.ok(nil, "ab/remove.json", "server_id", lic.ID)
		c.ok(nil, "ipl/remove.json", "ip", "203.0.113.50")
	})
}

func TestRateLimitPerSecret(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		alice, _ := newClient(t, e, "alice")
		bob, _ := newClient(t, e, "bob")
		for i := 0; i < 3; i++ {
			alice.ok(nil, "ipl/list.json")
		}
		a := alice.fails(http.StatusTooManyRequests, "ipl/list.json")
		if a.Code != "RATE_LIMITED" {
			t.Fatalf("%+v", a)
		}
		bob.ok(nil, "ipl/list.json") // another secret has its own budget
	}, apitest.WithConfig(func(c *server.Config) { c.CLNRateLimit = 3 }))
}

func TestSecretsManagement(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		var out struct{ CreateCLNSecret struct{ Secret string } }
		e.Query(r.Token, createSecret, nil, &out)
		// Stored sealed: the plaintext is nowhere in the row.
		row, err := e.DB.Client.CLNSecret.Query().Where(clnsecret.ResellerID(r.ID)).Only(viewer.SystemContext(e.Ctx()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(row.Sealed, []byte(out.CreateCLNSecret.Secret)) || len(row.Sealed) < 40 {
			t.Fatal("the secret is stored in plain text")
		}
		// An API token cannot mint one; another reseller cannot revoke it.
		e.Expect("FORBIDDEN", "", e.APIToken(r.Token, "READ_WRITE"), createSecret, nil)
		bob := e.Register("bob")
		e.Expect("NOT_FOUND", "", bob.Token, `mutation($id: ID!) { revokeCLNSecret(id: $id) { revokedID } }`, map[string]any{"id": row.ID})
		var bobs struct{ ClnSecrets []struct{ ID string } }
		e.Query(bob.Token, `{ clnSecrets { id } }`, nil, &bobs)
		if len(bobs.ClnSecrets) != 0 {
			t.Fatalf("bob lists alice's secrets: %+v", bobs)
		}
		e.Query(bob.Token, `query($r: ID) { clnSecrets(resellerID: $r) { id } }`, map[string]any{"r": r.ID}, &bobs)
		if len(bobs.ClnSecrets) != 0 {
			t.Fatalf("bob lists alice's secrets by naming her: %+v", bobs)
		}
		// Operators see whose each secret is, and can ask for one reseller's.
		var ops struct {
			ClnSecrets []struct{ ID, ResellerID string }
		}
		e.Query(e.OperatorToken, `query($r: ID) { clnSecrets(resellerID: $r) { id resellerID } }`, map[string]any{"r": r.ID}, &ops)
		if len(ops.ClnSecrets) != 1 || ops.ClnSecrets[0].ID != row.ID || ops.ClnSecrets[0].ResellerID != r.ID {
			t.Fatalf("operator's clnSecrets(resellerID) %+v", ops)
		}
		e.Query(e.OperatorToken, `query($r: ID) { clnSecrets(resellerID: $r) { id } }`, map[string]any{"r": bob.ID}, &ops)
		if len(ops.ClnSecrets) != 0 {
			t.Fatalf("operator's clnSecrets(bob) %+v", ops)
		}
		for i := 1; i < 5; i++ {
			e.Query(r.Token, createSecret, nil, nil)
		}
		e.Expect("LIMIT_REACHED", "", r.Token, createSecret, nil)
	})
}

// Outside sandbox mode without CLND_SECRETS_KEY the API is off, and both
// the API and createCLNSecret say which variable is missing.
func TestOffWithoutKey(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.WithoutSandbox())
	r := e.Register("alice")
	resp := e.Expect("FORBIDDEN", "", r.Token, createSecret, nil)
	if !strings.Contains(string(resp.Raw), "CLND_SECRETS_KEY") {
		t.Fatalf("%s", resp.Raw)
	}
	c := &client{t: t, base: e.Server.URL, login: "alice", secret: "x"}
	a := c.fails(http.StatusForbidden, "ipl/list.json")
	if !strings.Contains(a.Message, "CLND_SECRETS_KEY") {
		t.Fatalf("%+v", a)
	}
}

// Each call is a route of its own in the metrics, and refused tokens are
// counted by reason.
func TestMetricsPerCall(t *testing.T) {
	e := apitest.New(t, "sqlite")
	c, _ := newClient(t, e, "alice")
	c.ok(nil, "ipl/list.json")
	tok := c.token()
	c.raw(http.MethodGet, "ab/list.json", url.Values{"token": {tok}})
	c.raw(http.MethodGet, "ab/list.json", url.Values{"token": {tok}})
	resp, err := http.Get(e.Server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`clnd_http_requests_total{code="200",route="/api/ipl/list.json"} 1`,
		`clnd_http_requests_total{code="200",route="/api/ab/list.json"} 1`,
		`clnd_http_requests_total{code="401",route="/api/ab/list.json"} 1`,
		`clnd_cln_api_refused_total{reason="replayed"} 1`,
	} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Production mode with a configured key: the API works, and the secret is
// sealed with that key (a server with another key cannot open it).
func TestProductionKey(t *testing.T) {
	key, err := sealed.ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealed.ParseKey("too-short"); err == nil || strings.Contains(err.Error(), "too-short") || !strings.Contains(err.Error(), "CLND_SECRETS_KEY") {
		t.Fatalf("a short key: %v", err)
	}
	e := apitest.New(t, "sqlite", apitest.WithoutSandbox(), apitest.WithConfig(func(c *server.Config) { c.Keyring = key }))
	c, _ := newClient(t, e, "alice")
	var listed []License
	c.ok(&listed, "ipl/list.json")

	other, err := sealed.ParseKey(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	e2 := apitest.Reopen(t, e, apitest.WithConfig(func(c *server.Config) { c.Keyring = other }))
	c2 := &client{t: t, base: e2.Server.URL, login: c.login, secret: c.secret}
	if a := c2.get("ipl/list.json"); a.Success || a.Status != http.StatusInternalServerError {
		t.Fatalf("another key opened the secret: %+v", a)
	}
}

// TestUnopenableSecretLocksNothingOut: a secret sealed under another key
// (CLND_SECRETS_KEY changed, a row restored from elsewhere) is skipped, so
// the login's other secrets keep working (review finding 23: one such row
// made every token of the login INTERNAL).
func TestUnopenableSecretLocksNothingOut(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, r := newClient(t, e, "alice")
		var other struct {
			CreateCLNSecret struct{ ClnSecret struct{ ID string } }
		}
		e.Query(r.Token, createSecret, nil, &other)
		garbage := bytes.Repeat([]byte{7}, 60)
		if _, err := e.DB.SQL.Exec(`UPDATE cln_secrets SET sealed = $1 WHERE id = $2`, garbage, other.CreateCLNSecret.ClnSecret.ID); err != nil {
			t.Fatal(err)
		}
		c.ok(nil, "ipl/list.json")
	})
}
