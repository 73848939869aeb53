// Package apitest runs clnd end to end for tests: a real HTTP server on a
// fresh database (SQLite or PostgreSQL), spoken to in GraphQL over HTTP.
package apitest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/auth"
	"clnd/internal/clock"
	"clnd/internal/pgtest"
	"clnd/internal/pricelist"
	"clnd/internal/server"
	"clnd/internal/store"
	"clnd/internal/testclock"
)

// Backends are the databases every storage test runs on.
var Backends = []string{"sqlite", "postgres"}

// Start is where the sandbox test clock of every Env starts.
var Start = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// Env is one clnd instance with its own database.
type Env struct {
	t             testing.TB
	Backend       string
	DB            *store.DB
	Clock         *clock.Frozen // nil outside sandbox mode
	Server        *httptest.Server
	Instance      *server.Server
	Config        server.Config
	OperatorToken string

	naturalCollation bool
	databaseURL      string

	log      *slog.Logger
	shadow   *Env // the same database read with the compiler off (shadow.go)
	isShadow bool
	noShadow bool
}

// Option adjusts an Env before it starts.
type Option func(*Env)

// WithoutSandbox runs the server in production mode.
func WithoutSandbox() Option { return func(e *Env) { e.Config.Sandbox = false } }

// WithConfig edits the server configuration.
func WithConfig(f func(*server.Config)) Option { return func(e *Env) { f(&e.Config) } }

// WithNaturalCollation runs PostgreSQL on a database whose default collation
// is ICU's "en-US" (case-insensitive first, accents near their letters), not
// the test server's "C", so that a test sees whether clnd's orderings depend
// on the database's collation. SQLite has no such setting and is unaffected.
func WithNaturalCollation() Option { return func(e *Env) { e.naturalCollation = true } }

// WithDatabaseURL runs the instance on the database at url (migrated on
// start) rather than on a fresh one: a server the test controls, say
// pgtest.StartStoppable's. Backend must name url's kind.
func WithDatabaseURL(url string) Option { return func(e *Env) { e.databaseURL = url } }

// Each runs fn once per backend, as subtests named after the backend.
func Each(t *testing.T, fn func(t *testing.T, e *Env), opts ...Option) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) {
			fn(t, New(t, b, opts...))
		})
	}
}

// URL returns the database URL of a fresh, empty database of the backend.
func URL(t testing.TB, backend string) string {
	if backend == "postgres" {
		return pgtest.DSN(t)
	}
	return "sqlite://" + filepath.Join(t.TempDir(), "clnd.db")
}

// New starts clnd on a fresh database of the backend, migrated, with the
// catalogue, a sandbox test clock at Start and an operator token.
func New(t testing.TB, backend string, opts ...Option) *Env {
	t.Helper()
	e := &Env{t: t, Backend: backend, Config: server.Config{Sandbox: true}}
	for _, o := range opts {
		o(e)
	}
	ctx := context.Background()
	url := e.databaseURL
	switch {
	case url != "":
	case e.naturalCollation && backend == "postgres":
		url = naturalCollationURL(t)
	default:
		url = URL(t, backend)
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := pricelist.EnsureCatalogue(ctx, db.Client); err != nil {
		t.Fatal(err)
	}
	e.DB = db
	var c clock.Clock = clock.System{}
	if e.Config.Sandbox {
		if e.Clock, err = testclock.LoadAt(ctx, db.Client, Start); err != nil {
			t.Fatal(err)
		}
		c = e.Clock
	}
	if e.OperatorToken, err = auth.CreateOperatorToken(clock.NewContext(ctx, c), db.Client, "tests"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e.log = log
	e.start(log)
	return e
}

// naturalCollationURL creates an empty database whose default collation is
// ICU's en-US and drops it when t ends.
func naturalCollationURL(t testing.TB) string {
	t.Helper()
	admin, err := neturl.Parse(pgtest.AdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	adminURL := admin.String()
	adminDB, err := sql.Open("postgres", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	var name string
	if err := adminDB.QueryRow(`SELECT 'clndtest_icu_' || md5(random()::text)`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	_, err = adminDB.Exec(`CREATE DATABASE ` + name + ` TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`)
	if err != nil {
		t.Fatalf("creating a database with an ICU collation: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("postgres", adminURL)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	admin.Path = "/" + name
	return admin.String()
}

// start runs the instance until the test ends, ready to receive other
// instances' events.
func (e *Env) start(log *slog.Logger) {
	srv, err := server.New(e.Config, e.DB, e.Clock, log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.Instance = srv
	// Served as clnd serve serves it: agents' check-ins on lean
	// connections, the rest through net/http.
	e.Server = httptest.NewUnstartedServer(srv.Handler())
	e.Server.Listener = srv.Listener(e.Server.Listener)
	e.Server.Start()
	e.t.Cleanup(func() {
		e.Server.CloseClientConnections()
		e.Server.Close()
		srv.Close()
	})
	select {
	case <-srv.Listening():
	case <-time.After(10 * time.Second):
		e.t.Fatal("the instance did not start listening for events")
	}
}

// Ctx is a context with the Env's business clock, for calling domain code directly.
func (e *Env) Ctx() context.Context {
	if e.Clock != nil {
		return clock.NewContext(context.Background(), e.Clock)
	}
	return clock.NewContext(context.Background(), clock.System{})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response and its HTTP status.
type Response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	Raw    []byte
}

// Code is the first error's extensions.code, "" without errors.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	code, _ := r.Errors[0].Extensions["code"].(string)
	return code
}

// Field is the first error's extensions.field.
func (r *Response) Field() string {
	if len(r.Errors) == 0 {
		return ""
	}
	f, _ := r.Errors[0].Extensions["field"].(string)
	return f
}

// Request is one GraphQL request.
type Request struct {
	Token     string
	Query     string
	Variables map[string]any
	Header    map[string]string
}

// Do sends a GraphQL request over HTTP POST.
func (e *Env) Do(req Request) *Response {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"query": req.Query, "variables": req.Variables})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(req, body)
}

func (e *Env) post(req Request, body []byte) *Response {
	e.t.Helper()
	resp, raw := e.send(req, body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decoding %q: %v", raw, err)
		}
		e.compareWithShadow(req, body, out)
	}
	return out
}

// send posts body to this instance's /graphql with the request's token and
// headers, and returns the response and its whole body.
func (e *Env) send(req Request, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	httpReq, err := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	httpReq.Header.Set("Content-Type", "application/json")
	if req.Token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		httpReq.Header.Set(k, v)
	}
	resp, err := e.Server.Client().Do(httpReq)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, raw
}

// PostRaw sends an arbitrary body to /graphql.
func (e *Env) PostRaw(token string, body []byte) *Response {
	e.t.Helper()
	return e.post(Request{Token: token}, body)
}

// Query sends a query and fails the test on any error; it decodes data into out.
func (e *Env) Query(token, query string, vars map[string]any, out any) {
	e.t.Helper()
	r := e.Do(Request{Token: token, Query: query, Variables: vars})
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		e.t.Fatalf("query failed (HTTP %d): %s\nquery: %s", r.Status, r.Raw, query)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			e.t.Fatalf("decoding data %s: %v", r.Data, err)
		}
	}
}

// Expect sends a query that must fail with the code (and, when field is not
// empty, extensions.field); it returns the response for further checks.
func (e *Env) Expect(code, field, token, query string, vars map[string]any) *Response {
	e.t.Helper()
	r := e.Do(Request{Token: token, Query: query, Variables: vars})
	if r.Code() != code {
		e.t.Fatalf("want error %s, got %s (HTTP %d): %s\nquery: %s", code, r.Code(), r.Status, r.Raw, query)
	}
	if field != "" && r.Field() != field {
		e.t.Fatalf("want extensions.field %q, got %q: %s", field, r.Field(), r.Raw)
	}
	return r
}

// Reopen starts a second clnd instance on the same database as e, as a
// second process would: its own server, its own clock loaded from the
// database; opts may change its configuration.
func Reopen(t testing.TB, e *Env, opts ...Option) *Env {
	t.Helper()
	ctx := context.Background()
	e2 := &Env{t: t, Backend: e.Backend, DB: e.DB, Config: e.Config, OperatorToken: e.OperatorToken}
	for _, o := range opts {
		o(e2)
	}
	if e.Config.Sandbox {
		c, err := testclock.Load(ctx, e.DB.Client)
		if err != nil {
			t.Fatal(err)
		}
		e2.Clock = c
	}
	e2.start(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return e2
}

// RegisterMutation signs a reseller up; variables: $input.
const RegisterMutation = `mutation($input: RegisterResellerInput!) {
	registerReseller(input: $input) { token expiresAt reseller { id login balance } }
}`

// RegistrationInput is a valid registerReseller input for the login.
func RegistrationInput(login string) map[string]any {
	return map[string]any{
		"login":           login,
		"password":        "correct horse battery",
		"billingEmail":    login + "@example.com",
		"company":         "Company of " + login,
		"firstName":       "Ada",
		"lastName":        "Lovelace",
		"initialDeposit":  "250.00",
		"acceptAgreement": true,
		"paymentMethod":   map[string]any{"gatewayToken": "tok_visa"},
	}
}

// Reseller is a registered reseller and its session token.
type Reseller struct {
	ID, Login, Token string
}

// Register signs a reseller up through the API.
func (e *Env) Register(login string) Reseller {
	e.t.Helper()
	var out struct {
		RegisterReseller struct {
			Token    string
			Reseller struct{ ID, Login string }
		}
	}
	e.Query("", RegisterMutation, map[string]any{"input": RegistrationInput(login)}, &out)
	return Reseller{ID: out.RegisterReseller.Reseller.ID, Login: out.RegisterReseller.Reseller.Login, Token: out.RegisterReseller.Token}
}

// AddLicense adds an IP license through the API and returns its ID.
func (e *Env) AddLicense(token, ip, typ, hostname string) string {
	e.t.Helper()
	var out struct {
		AddIPLicense struct{ License struct{ ID string } }
	}
	e.Query(token, `mutation($ip: String!, $type: LicenseType!, $host: String) {
		addIPLicense(input: {ip: $ip, type: $type, hostname: $host}) { license { id } } }`,
		map[string]any{"ip": ip, "type": typ, "host": hostname}, &out)
	return out.AddIPLicense.License.ID
}

// CheckInMutation is what a server sends.
const CheckInMutation = `mutation($host: String, $cred: String) {
	checkIn(input: {hostname: $host, credential: $cred}) { at licensed nextCheckInAfter } }`

// CheckInFrom checks in as the host at ip (sent as X-Forwarded-For from
// loopback, which is a trusted proxy).
func (e *Env) CheckInFrom(ip, hostname string) *Response {
	e.t.Helper()
	return e.Do(Request{Query: CheckInMutation, Variables: map[string]any{"host": hostname},
		Header: map[string]string{"X-Forwarded-For": ip}})
}

// Race sends n requests at once and counts the answers by error code ("" for
// success).
func (e *Env) Race(n int, req func(i int) Request) map[string]int {
	e.t.Helper()
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = e.Do(req(i)).Code()
		}(i)
	}
	wg.Wait()
	counts := map[string]int{}
	for _, c := range codes {
		counts[c]++
	}
	return counts
}

// APIToken makes an API token with the scope from a session; unlike the
// session it does not expire, which suits tests that move the clock far.
func (e *Env) APIToken(session, scope string) string {
	e.t.Helper()
	var out struct{ CreateAPIToken struct{ Token string } }
	e.Query(session, `mutation($s: APITokenScope!) { createAPIToken(input: {name: "test", scope: $s}) { token } }`,
		map[string]any{"s": scope}, &out)
	return out.CreateAPIToken.Token
}

// Page is one page of a connection, as Walk reads it.
type Page struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   struct{ ID string }
	}
}

// Walk pages through a connection from one end to the other and returns its
// node IDs in the connection's order. query declares $first, $after, $last
// and $before (plus vars) and selects `totalCount pageInfo { hasNextPage
// hasPreviousPage startCursor endCursor } edges { cursor node { id } }` at
// path in data. Forward walks use first/after, backward ones last/before.
// Every page must report the same totalCount, and the walk must end with
// exactly that many rows.
func (e *Env) Walk(token, query string, vars map[string]any, path []string, size int, backward bool) []string {
	e.t.Helper()
	var ids []string
	total := -1
	var cursor any
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.t.Fatal("the walk does not end")
		}
		v := map[string]any{}
		for k, x := range vars {
			v[k] = x
		}
		if backward {
			v["last"], v["before"] = size, cursor
		} else {
			v["first"], v["after"] = size, cursor
		}
		var data map[string]json.RawMessage
		e.Query(token, query, v, &data)
		raw := json.RawMessage(nil)
		for i, key := range path {
			raw = data[key]
			if i < len(path)-1 {
				data = nil
				if err := json.Unmarshal(raw, &data); err != nil {
					e.t.Fatalf("walking %v: %v in %s", path, err, raw)
				}
			}
		}
		var p Page
		if err := json.Unmarshal(raw, &p); err != nil {
			e.t.Fatalf("decoding a page at %v: %v in %s", path, err, raw)
		}
		if total >= 0 && p.TotalCount != total {
			e.t.Fatalf("totalCount changed from %d to %d while paging", total, p.TotalCount)
		}
		total = p.TotalCount
		page := make([]string, len(p.Edges))
		for i, edge := range p.Edges {
			page[i] = edge.Node.ID
		}
		if backward {
			ids = append(page, ids...)
		} else {
			ids = append(ids, page...)
		}
		more := p.PageInfo.HasNextPage
		cursor = p.PageInfo.EndCursor
		if backward {
			more, cursor = p.PageInfo.HasPreviousPage, p.PageInfo.StartCursor
		}
		if !more {
			break
		}
		if len(p.Edges) == 0 {
			e.t.Fatalf("an empty page says there is more (page %d)", pages)
		}
	}
	if len(ids) != total {
		e.t.Fatalf("the walk saw %d rows, totalCount is %d: %v", len(ids), total, ids)
	}
	return ids
}

// CollectIDs walks a JSON document and returns every "id" value: what an
// isolation test compares with another tenant's IDs.
func CollectIDs(raw json.RawMessage) []string {
	var v any
	_ = json.Unmarshal(raw, &v)
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && k == "id" {
					out = append(out, s)
					continue
				}
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	walk(v)
	return out
}
