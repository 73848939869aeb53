package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// FuzzHTTPRequest sends arbitrary requests to /graphql of a real server on
// SQLite: method, Content-Type, Accept, URL query string, body, with or
// without a reseller's token. None may answer 5xx or INTERNAL, hang, or
// answer without a coded GraphQL error when it refuses. `go test` runs the
// seeds (the API tests' documents and refusals); `go test -fuzz
// FuzzHTTPRequest ./internal/server/` explores.
func FuzzHTTPRequest(f *testing.F) {
	documents := []string{
		`{ clock { now } }`,
		`{ viewer { role reseller { login balance status autopayment { mode minimumCharge }
			summary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } } } }`,
		`query($after: Cursor) { ipLicenses(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor }
			edges { cursor node { id ip type hostname status createdAt product { name monthlyPrice } reseller { login } } } } }`,
		`mutation($ip: String!) { addIPLicense(input: {ip: $ip, type: KERNELCARE}) { license { id ip } } }`,
		`query { __schema { types { ...T } } } fragment T on __Type { kind name ofType { kind name ofType { kind name } } }`,
		`query{...F0} fragment F0 on Query{ clock{now} ...F1 ...F1 } fragment F1 on Query{ clock{now} ...F2 ...F2 } fragment F2 on Query{ clock{now} }`,
		`{ a: viewer { reseller { summary { totalLicenses } } } b: viewer { reseller { summary { totalLicenses } } } }`,
		`query{...A} fragment A on Query{ ...B } fragment B on Query{ ...A }`,
		`{ ipLicenses(first: 100) { edges { node { reseller { ipLicenses(first: 100) { edges { node { id } } } } } } } }`,
		`{ ipLicenses(first: "100") { totalCount } }`,
		`{ nodes(ids: ["rsl_1", "ipl_01JD0000000000000000000000"]) { id ... on Reseller { login } } }`,
		`subscription { checkIns(where: {ip: "203.0.113.1"}) { at ip license { id } } }`,
		`query A { clock { now } } query B { viewer { role } }`,
		`{ ipLicenses(`,
		`{ nope }`,
		"{" + strings.Repeat("__typename ", 300) + "}",
	}
	vars := `{"ip": "203.0.113.7", "after": "not-a-cursor"}`
	for _, doc := range documents {
		body, _ := json.Marshal(map[string]any{"query": doc, "variables": json.RawMessage(vars)})
		f.Add("POST", "application/json", "", "", body, true)
		f.Add("GET", "", "application/graphql-response+json", url.Values{"query": {doc}, "variables": {vars}}.Encode(), []byte(nil), true)
	}
	query := []byte(`{"query": "{ clock { now } }"}`)
	for _, seed := range []struct {
		method, contentType, accept, rawQuery string
		body                                  []byte
	}{
		{"PUT", "application/json", "", "", query},
		{"DELETE", "", "", "", nil},
		{"HEAD", "", "", "", nil},
		{"OPTIONS", "", "", "", nil},
		{"POST", "text/plain", "", "", query},
		{"POST", "application/x-www-form-urlencoded", "", "", []byte("query=%7B+clock+%7B+now+%7D+%7D")},
		{"POST", "multipart/form-data; boundary=x", "", "", []byte("--x\r\n\r\n{}\r\n--x--")},
		{"POST", "application/graphql", "", "", []byte("{ clock { now } }")},
		{"POST", "application/json", "text/event-stream", "", query},
		{"POST", "application/json", "application/graphql-response+json", "", []byte(`{"query": 1, "variables": [1]}`)},
		{"POST", "application/json", "", "", []byte(`{"query": "{ clock { now } }"} []`)},
		{"POST", "application/json", "", "", []byte(`{"query": "query($n: Int!) { ipLicenses(first: $n) { totalCount } }", "variables": {"n": 1e400}}`)},
		{"POST", "application/json", "", "", []byte("{\"query\": \"{ clock { now } }\\u0000\"}")},
		{"GET", "", "", "query=%zz", nil},
		{"GET", "", "", "query=mutation+%7B+logout+%7D", nil},
	} {
		f.Add(seed.method, seed.contentType, seed.accept, seed.rawQuery, seed.body, true)
	}

	e := apitest.New(f, "sqlite")
	token := e.Register("fuzzer").Token
	client := e.Server.Client()
	f.Fuzz(func(t *testing.T, method, contentType, accept, rawQuery string, body []byte, withToken bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, e.Server.URL+"/graphql", bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		if strings.IndexFunc(rawQuery, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			// Go's client writes the query into the request line as it
			// is: a space there makes a request line net/http refuses
			// (400, text/plain) before clnd sees it; no client sends one.
			return
		}
		req.URL.RawQuery = rawQuery
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", accept)
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("no answer in 5 s")
		}
		if err != nil {
			return // refused by the client (an invalid method or header value)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			raw, _ := io.ReadAll(resp.Body)
			t.Fatalf("HTTP %d: %s", resp.StatusCode, raw)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return // a stream, open until cancelled
		}
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if len(raw) == 0 {
			if method != http.MethodHead && method != http.MethodOptions {
				t.Fatalf("HTTP %d with an empty body", resp.StatusCode)
			}
			return
		}
		var decoded struct {
			Errors []apitest.Error `json:"errors"`
		}
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatalf("HTTP %d, not a GraphQL response (%v): %s", resp.StatusCode, err, raw)
		}
		if resp.StatusCode >= 400 && len(decoded.Errors) == 0 {
			t.Fatalf("HTTP %d without an error: %s", resp.StatusCode, raw)
		}
		for _, e := range decoded.Errors {
			switch code, _ := e.Extensions["code"].(string); code {
			case "":
				t.Fatalf("HTTP %d, an error without a code: %s", resp.StatusCode, raw)
			case "INTERNAL":
				t.Fatalf("HTTP %d, INTERNAL: %s", resp.StatusCode, raw)
			}
		}
	})
}
