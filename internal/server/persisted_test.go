package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"clnd/internal/apitest"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// persisted builds a POST body of Apollo's automatic persisted queries
// protocol: the hash, and the query only when it is not "".
func persisted(query, hash string, vars map[string]any) []byte {
	body := map[string]any{
		"variables":  vars,
		"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}},
	}
	if query != "" {
		body["query"] = query
	}
	b, _ := json.Marshal(body)
	return b
}

// postFrom posts body as the host at ip (X-Forwarded-For from loopback, a
// trusted proxy).
func postFrom(t *testing.T, e *apitest.Env, ip string, body []byte) *apitest.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	return roundTrip(t, e, req)
}

func roundTrip(t *testing.T, e *apitest.Env, req *http.Request) *apitest.Response {
	t.Helper()
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &apitest.Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return out
}

func persistedGET(t *testing.T, e *apitest.Env, token, hash string, vars map[string]any) *apitest.Response {
	t.Helper()
	v, _ := json.Marshal(vars)
	ext, _ := json.Marshal(map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}})
	q := url.Values{"variables": {string(v)}, "extensions": {string(ext)}}
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return roundTrip(t, e, req)
}

// persistedWS runs one operation by its hash alone over a websocket
// (graphql-transport-ws) and returns the result payload.
func persistedWS(t *testing.T, e *apitest.Env, token, hash string, vars map[string]any) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := dialTransportWS(t, ctx, e)
	type msg struct {
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}
	initPayload, _ := json.Marshal(map[string]any{"Authorization": "Bearer " + token})
	if err := wsjson.Write(ctx, conn, msg{Type: "connection_init", Payload: initPayload}); err != nil {
		t.Fatal(err)
	}
	var ack msg
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("connection_init answered %+v %v", ack, err)
	}
	if err := wsjson.Write(ctx, conn, msg{ID: "1", Type: "subscribe", Payload: persisted("", hash, vars)}); err != nil {
		t.Fatal(err)
	}
	for {
		var m msg
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			t.Fatalf("reading the result: %v", err)
		}
		if m.ID == "1" && (m.Type == "next" || m.Type == "error") {
			return m.Payload
		}
	}
}

// Apollo's automatic persisted queries: a hash the server does not know
// answers PERSISTED_QUERY_NOT_FOUND (with the message Apollo's clients look
// for); the query sent with its hash runs and registers it; then the hash
// alone runs it, over POST, GET and websocket alike, on every backend (on
// PostgreSQL through the compiled read path), with its own variables each
// time and the page-size limit still checked.
func TestPersistedQueryRoundTrip(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("apq-seller")
		e.AddLicense(seller.Token, "8.8.4.4", "CLOUDLINUX_OS", "a.example")
		e.AddLicense(seller.Token, "8.8.8.8", "KERNELCARE", "b.example")
		const query = `query Licenses($first: Int) { ipLicenses(first: $first, orderBy: {field: IP}) { totalCount edges { node { ip hostname type } } } }`
		hash := sha256Hex(query)
		one := map[string]any{"first": 1}

		plain := e.Do(apitest.Request{Token: seller.Token, Query: query, Variables: one})
		if len(plain.Errors) > 0 || !strings.Contains(string(plain.Data), "8.8.4.4") {
			t.Fatalf("plain query: %s", plain.Raw)
		}

		r := e.PostRaw(seller.Token, persisted("", hash, one))
		if r.Code() != "PERSISTED_QUERY_NOT_FOUND" || r.Errors[0].Message != "PersistedQueryNotFound" || r.Status != http.StatusOK {
			t.Fatalf("unknown hash answered HTTP %d %s", r.Status, r.Raw)
		}
		if r := persistedGET(t, e, seller.Token, hash, one); r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("unknown hash over GET answered HTTP %d %s", r.Status, r.Raw)
		}

		r = e.PostRaw(seller.Token, persisted(query, hash, one))
		if d := apitest.SameAnswer(r.Raw, plain.Raw); d != "" || r.Status != http.StatusOK {
			t.Fatalf("registering answered HTTP %d %s (%s), want %s", r.Status, r.Raw, d, plain.Raw)
		}
		for name, got := range map[string]*apitest.Response{
			"POST":                 e.PostRaw(seller.Token, persisted("", hash, one)),
			"POST, upper-case hex": e.PostRaw(seller.Token, persisted("", strings.ToUpper(hash), one)),
			"GET":                  persistedGET(t, e, seller.Token, hash, one),
		} {
			if d := apitest.SameAnswer(got.Raw, plain.Raw); d != "" || got.Status != http.StatusOK {
				t.Errorf("%s by hash answered HTTP %d %s (%s), want %s", name, got.Status, got.Raw, d, plain.Raw)
			}
		}
		if d := apitest.SameAnswer(persistedWS(t, e, seller.Token, hash, one), plain.Raw); d != "" {
			t.Errorf("websocket by hash: %s", d)
		}

		// Other variables, other answer: the variables are the request's.
		two := e.PostRaw(seller.Token, persisted("", hash, map[string]any{"first": 2}))
		if len(two.Errors) > 0 || !strings.Contains(string(two.Data), "8.8.8.8") {
			t.Fatalf("by hash with first: 2 answered %s", two.Raw)
		}
		// The limits that depend on variables still run on every request.
		if r := e.PostRaw(seller.Token, persisted("", hash, map[string]any{"first": 1000})); r.Code() != "BAD_USER_INPUT" || r.Field() != "first" {
			t.Fatalf("by hash with first: 1000 answered %s", r.Raw)
		}
		// Another tenant's hash lookup runs as that tenant.
		other := e.Register("apq-other")
		if r := e.PostRaw(other.Token, persisted("", hash, one)); len(r.Errors) > 0 || strings.Contains(string(r.Data), "8.8.") {
			t.Fatalf("another reseller by hash answered %s", r.Raw)
		}
	})
}

// The GraphQL check-in as agents should send it: one document for every
// server, the hostname a variable, and after the first request only the hash.
func TestPersistedCheckIn(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("apq-checkin")
		e.AddLicense(seller.Token, "203.0.113.7", "CLOUDLINUX_OS", "")
		e.AddLicense(seller.Token, "203.0.113.8", "KERNELCARE", "")
		hash := sha256Hex(apitest.CheckInMutation)
		first := postFrom(t, e, "203.0.113.7", persisted("", hash, map[string]any{"host": "web7.example"}))
		if first.Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("first check-in by hash answered %s", first.Raw)
		}
		reg := postFrom(t, e, "203.0.113.7", persisted(apitest.CheckInMutation, hash, map[string]any{"host": "web7.example"}))
		if len(reg.Errors) > 0 || !strings.Contains(string(reg.Data), "CLOUDLINUX_OS") {
			t.Fatalf("check-in with query and hash answered %s", reg.Raw)
		}
		again := postFrom(t, e, "203.0.113.8", persisted("", hash, map[string]any{"host": "web8.example"}))
		if len(again.Errors) > 0 || !strings.Contains(string(again.Data), "KERNELCARE") {
			t.Fatalf("another server's check-in by hash answered %s", again.Raw)
		}
		var out struct {
			IPLicenses struct {
				Edges []struct {
					Node struct{ IP, Hostname, Status string }
				}
			}
		}
		e.Query(seller.Token, `{ ipLicenses(orderBy: {field: IP}) { edges { node { ip hostname status } } } }`, nil, &out)
		for i, want := range []string{"web7.example", "web8.example"} {
			if n := out.IPLicenses.Edges[i].Node; n.Hostname != want || n.Status != "ACTIVE" {
				t.Errorf("license %d after check-ins by hash: %+v", i, n)
			}
		}
	})
}

// A hash that is not the query's SHA-256 is refused and registers nothing;
// so is a document that does not validate, sent with its true hash; a
// version other than 1 is refused.
func TestPersistedQueryRefusals(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("apq-refusals")
		const query = `{ viewer { role } }`
		wrong := sha256Hex(query + " ")
		r := e.PostRaw(seller.Token, persisted(query, wrong, nil))
		if r.Code() != "BAD_USER_INPUT" || r.Field() != "sha256Hash" || !strings.Contains(r.Errors[0].Message, "hash mismatch") || r.Data != nil && string(r.Data) != "null" {
			t.Fatalf("a mismatched hash answered %s", r.Raw)
		}
		for _, h := range []string{wrong, sha256Hex(query)} {
			if r := e.PostRaw(seller.Token, persisted("", h, nil)); r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
				t.Fatalf("after a mismatch, hash %s answered %s", h, r.Raw)
			}
		}

		const invalid = `{ viewer { role nonsense } }`
		if r := e.PostRaw(seller.Token, persisted(invalid, sha256Hex(invalid), nil)); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("an invalid document with its hash answered %s", r.Raw)
		}
		if r := e.PostRaw(seller.Token, persisted("", sha256Hex(invalid), nil)); r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Fatalf("an invalid document was registered: %s", r.Raw)
		}

		body, _ := json.Marshal(map[string]any{"query": query,
			"extensions": map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": sha256Hex(query)}}})
		if r := e.PostRaw(seller.Token, body); r.Code() != "BAD_USER_INPUT" || r.Field() != "version" {
			t.Fatalf("version 2 answered %s", r.Raw)
		}
		body, _ = json.Marshal(map[string]any{"extensions": map[string]any{"persistedQuery": "abc"}})
		if r := e.PostRaw(seller.Token, body); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("a malformed extension answered %s", r.Raw)
		}
		if r := e.PostRaw(seller.Token, persisted("", "abc", nil)); r.Code() != "BAD_USER_INPUT" || r.Field() != "sha256Hash" {
			t.Fatalf("a hash that is not 64 hex digits answered %s", r.Raw)
		}
		body, _ = json.Marshal(map[string]any{"extensions": map[string]any{"other": 1}})
		if r := e.PostRaw(seller.Token, body); r.Code() != "BAD_USER_INPUT" || r.Field() != "query" {
			t.Fatalf("no query and no persisted query answered %s", r.Raw)
		}
	})
}
