package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"clnd/internal/apitest"
)

// POST and GET answer with gqlgen's status codes and bodies (json.Marshal
// of the response, less its HTML escaping and compaction), and every refusal
// has a code.
func TestJSONTransports(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("transport-user")
		e.AddLicense(seller.Token, "8.8.4.4", "CLOUDLINUX_OS", "<b>&amp;</b>.example")
		const list = `{ ipLicenses(first: 5) { totalCount edges { node { ip hostname type product { name monthlyPrice } } } } }`
		get := func(q url.Values) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?"+q.Encode(), nil)
			return r
		}
		post := func(body string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
		withAccept := func(r *http.Request, accept string) *http.Request {
			r.Header.Set("Accept", accept)
			return r
		}
		for _, tc := range []struct {
			name        string
			req         *http.Request
			status      int
			code        string // first error's code, "" for none
			contentType string
		}{
			{"post query", post(`{"query": "` + list + `"}`), 200, "", "application/json"},
			{"post malformed", post(`{"query": `), 400, "BAD_USER_INPUT", "application/json"},
			{"post parse error", post(`{"query": "{ ipLicenses("}`), 200, "BAD_USER_INPUT", "application/json"},
			{"post parse error, graphql-response", withAccept(post(`{"query": "{ ipLicenses("}`), "application/graphql-response+json"), 400, "BAD_USER_INPUT", "application/graphql-response+json"},
			{"post invalid field", post(`{"query": "{ nope }"}`), 200, "BAD_USER_INPUT", "application/json"},
			{"post resolver error", post(`{"query": "{ node(id: \"ipl_01JD0000000000000000000000\") { id } }"}`), 200, "NOT_FOUND", "application/json"},
			{"get query", get(url.Values{"query": {list}}), 200, "", "application/json"},
			{"get query, any type", withAccept(get(url.Values{"query": {list}}), "text/html, */*;q=0.8"), 200, "", "application/json"},
			{"get mutation", get(url.Values{"query": {`mutation { logout }`}}), 405, "BAD_USER_INPUT", "application/json"},
			{"get bad variables", get(url.Values{"query": {list}, "variables": {`{"x":`}}), 400, "BAD_USER_INPUT", "application/json"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.req.Header.Set("Authorization", "Bearer "+seller.Token)
				resp, err := e.Server.Client().Do(tc.req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
					t.Fatalf("HTTP %d %s, want %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.contentType, body)
				}
				var decoded graphql.Response
				if err := json.Unmarshal(body, &decoded); err != nil {
					t.Fatalf("body is not a GraphQL response: %v: %s", err, body)
				}
				code := ""
				if len(decoded.Errors) > 0 {
					code, _ = decoded.Errors[0].Extensions["code"].(string)
				}
				if code != tc.code {
					t.Errorf("code %q, want %q: %s", code, tc.code, body)
				}
				if tc.contentType == "application/graphql-response+json" && tc.code != "" {
					return // a request error: no data entry, checked in TestRequestErrors
				}
				gqlgen, err := json.Marshal(decoded)
				if err != nil {
					t.Fatal(err)
				}
				// Compiled root fields (PostgreSQL) keep the database's
				// whitespace, which json.Marshal would have removed.
				var escaped, compacted bytes.Buffer
				json.HTMLEscape(&escaped, body)
				if err := json.Compact(&compacted, escaped.Bytes()); err != nil {
					t.Fatal(err)
				}
				if compacted.String() != string(gqlgen) {
					t.Errorf("body differs from gqlgen's encoding:\n got %s\nwant %s", compacted.String(), gqlgen)
				}
			})
		}
	})
}
