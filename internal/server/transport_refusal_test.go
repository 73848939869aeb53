package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// httpCase is one raw request to /graphql and what it must answer.
type httpCase struct {
	name        string
	method      string
	query       url.Values // the URL's query string
	contentType string
	accept      string
	body        string
	status      int
	code        string // first error's code ("" for none)
	field       string // first error's extensions.field
	allow       string // the Allow header, if any is wanted
	noData      bool   // the body must have no data entry
}

func (tc httpCase) run(t *testing.T, e *apitest.Env, token string) {
	t.Helper()
	target := e.Server.URL + "/graphql"
	if tc.query != nil {
		target += "?" + tc.query.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, tc.method, target, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.contentType != "" {
		req.Header.Set("Content-Type", tc.contentType)
	}
	if tc.accept != "" {
		req.Header.Set("Accept", tc.accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", tc.name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != tc.status {
		t.Errorf("%s: HTTP %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
	}
	if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
		t.Errorf("%s: Allow %q, want %q", tc.name, resp.Header.Get("Allow"), tc.allow)
	}
	var decoded struct {
		Data   *json.RawMessage `json:"data"`
		Errors []apitest.Error  `json:"errors"`
	}
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("%s: body is not a GraphQL response (%v): %s", tc.name, err, body)
	}
	code, field := "", ""
	if len(decoded.Errors) > 0 {
		code, _ = decoded.Errors[0].Extensions["code"].(string)
		field, _ = decoded.Errors[0].Extensions["field"].(string)
	}
	if code != tc.code || field != tc.field {
		t.Errorf("%s: code %q field %q, want %q %q: %s", tc.name, code, field, tc.code, tc.field, body)
	}
	if tc.noData && strings.Contains(string(body), `"data"`) {
		t.Errorf("%s: a request error with a data entry: %s", tc.name, body)
	}
}

// Every request the transports refuse answers a GraphQL error body with a
// code and the status GraphQL over HTTP names: 405 (with Allow) for a method,
// 415 for a media type, 400 for bad request parameters.
func TestTransportRefusals(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("refusals")
	const query = `{"query": "{ clock { now } }"}`
	const jsonCT = "application/json"
	var cases []httpCase
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete, "PROPFIND"} {
		cases = append(cases, httpCase{name: m, method: m, contentType: jsonCT, body: query,
			status: 405, code: "BAD_USER_INPUT", allow: "GET, POST, OPTIONS"})
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/graphql", "application/jsonx", "not a media type"} {
		cases = append(cases, httpCase{name: "POST " + ct, method: http.MethodPost, contentType: ct, body: query,
			status: 415, code: "BAD_USER_INPUT"})
	}
	cases = append(cases,
		httpCase{name: "POST json with charset", method: http.MethodPost, contentType: "application/json; charset=utf-8", body: query, status: 200},
		httpCase{name: "GET mutation", method: http.MethodGet, query: url.Values{"query": {`mutation { logout }`}},
			status: 405, code: "BAD_USER_INPUT", allow: "POST"},
		httpCase{name: "GET mutation, graphql-response", method: http.MethodGet, query: url.Values{"query": {`mutation { logout }`}},
			accept: "application/graphql-response+json", status: 405, code: "BAD_USER_INPUT", allow: "POST", noData: true},
		httpCase{name: "GET subscription", method: http.MethodGet, query: url.Values{"query": {`subscription { checkIns { ip } }`}},
			status: 405, code: "BAD_USER_INPUT", allow: "POST"},
		httpCase{name: "GET variables array", method: http.MethodGet, query: url.Values{"query": {`{ clock { now } }`}, "variables": {`[1]`}},
			status: 400, code: "BAD_USER_INPUT", field: "variables"},
		httpCase{name: "GET variables string", method: http.MethodGet, query: url.Values{"query": {`{ clock { now } }`}, "variables": {`"x"`}},
			status: 400, code: "BAD_USER_INPUT", field: "variables"},
		httpCase{name: "GET variables trailing", method: http.MethodGet, query: url.Values{"query": {`{ clock { now } }`}, "variables": {`{} {}`}},
			status: 400, code: "BAD_USER_INPUT", field: "variables"},
		httpCase{name: "GET no query", method: http.MethodGet, status: 400, code: "BAD_USER_INPUT", field: "query"},
		httpCase{name: "POST variables array", method: http.MethodPost, contentType: jsonCT, body: `{"query": "{ clock { now } }", "variables": [1]}`,
			status: 400, code: "BAD_USER_INPUT", field: "variables"},
		httpCase{name: "POST variables number", method: http.MethodPost, contentType: jsonCT, body: `{"query": "{ clock { now } }", "variables": 3}`,
			status: 400, code: "BAD_USER_INPUT", field: "variables"},
		httpCase{name: "POST query number", method: http.MethodPost, contentType: jsonCT, body: `{"query": 1}`,
			status: 400, code: "BAD_USER_INPUT", field: "query"},
		httpCase{name: "POST no query", method: http.MethodPost, contentType: jsonCT, body: `{"variables": {}}`,
			status: 400, code: "BAD_USER_INPUT", field: "query"},
		httpCase{name: "POST no query, graphql-response", method: http.MethodPost, contentType: jsonCT, accept: "application/graphql-response+json", body: `{}`,
			status: 400, code: "BAD_USER_INPUT", field: "query", noData: true},
		httpCase{name: "POST body array", method: http.MethodPost, contentType: jsonCT, body: `[` + query + `]`,
			status: 400, code: "BAD_USER_INPUT"},
		httpCase{name: "POST trailing data", method: http.MethodPost, contentType: jsonCT, body: query + ` {"query": "mutation { logout }"}`,
			status: 400, code: "BAD_USER_INPUT"},
		// JSON is UTF-8: a bad byte is refused, not read as U+FFFD.
		httpCase{name: "POST not UTF-8", method: http.MethodPost, contentType: jsonCT,
			body:   `{"query": "mutation($h: String) { checkIn(input: {hostname: $h}) { at } }", "variables": {"h": "a` + "\xff" + `b"}}`,
			status: 400, code: "BAD_USER_INPUT", noData: true},
	)
	for _, tc := range cases {
		tc.run(t, e, seller.Token)
	}
	// A query string that does not decode (a bad percent escape).
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?query=%zz", nil)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"code":"BAD_USER_INPUT"`) {
		t.Errorf("a bad query string: HTTP %d %s", resp.StatusCode, body)
	}
}

// GraphQL over HTTP: a request that fails before execution (parse,
// validation, variable coercion, limits) answers 200 to an
// application/json client, and 4xx without a data entry to an
// application/graphql-response+json one; a refused credential stays 401.
func TestRequestErrors(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("request-errors")
	const jsonCT = "application/json"
	const gqlResponse = "application/graphql-response+json"
	failures := []struct{ name, body, code, field string }{
		{"parse", `{"query": "{ clock { "}`, "BAD_USER_INPUT", ""},
		{"validation", `{"query": "{ nope }"}`, "BAD_USER_INPUT", ""},
		{"unknown operation", `{"query": "query A { clock { now } }", "operationName": "B"}`, "BAD_USER_INPUT", ""},
		{"variable coercion", `{"query": "query($n: Int!) { ipLicenses(first: $n) { totalCount } }", "variables": {"n": "many"}}`, "BAD_USER_INPUT", "n"},
		{"missing variable", `{"query": "query($n: Int!) { ipLicenses(first: $n) { totalCount } }"}`, "BAD_USER_INPUT", "n"},
		{"too deep", `{"query": "{ viewer { reseller { ipLicenses { edges { node { product { ipLicenses { edges { node { product { name } } } } } } } } } } }"}`, "", ""},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			plain := httpCase{name: f.name + ", json", method: http.MethodPost, contentType: jsonCT, body: f.body, status: 200, code: f.code, field: f.field}
			strict := httpCase{name: f.name + ", graphql-response", method: http.MethodPost, contentType: jsonCT, accept: gqlResponse, body: f.body, status: 400, code: f.code, field: f.field, noData: true}
			if f.code == "" { // whichever code the limits answer, both cases agree on it
				r := e.PostRaw(seller.Token, []byte(f.body))
				plain.code, strict.code = r.Code(), r.Code()
				if r.Code() == "" {
					t.Skip("this document is within the limits")
				}
			}
			plain.run(t, e, seller.Token)
			strict.run(t, e, seller.Token)
			// GET carries the same failures the same way.
			var params map[string]any
			if err := json.Unmarshal([]byte(f.body), &params); err != nil {
				t.Fatal(err)
			}
			q := url.Values{"query": {params["query"].(string)}}
			if name, ok := params["operationName"].(string); ok {
				q.Set("operationName", name)
			}
			if vars, ok := params["variables"]; ok {
				b, _ := json.Marshal(vars)
				q.Set("variables", string(b))
			}
			plain.method, plain.query, plain.body, plain.name = http.MethodGet, q, "", f.name+", GET json"
			strict.method, strict.query, strict.body, strict.name = http.MethodGet, q, "", f.name+", GET graphql-response"
			plain.run(t, e, seller.Token)
			strict.run(t, e, seller.Token)
		})
	}
	// A successful request keeps 200 and its data for both media types.
	for _, accept := range []string{jsonCT, gqlResponse} {
		httpCase{name: "ok " + accept, method: http.MethodPost, contentType: jsonCT, accept: accept,
			body: `{"query": "{ clock { now } }"}`, status: 200}.run(t, e, seller.Token)
	}
	// A refused credential is 401 for both.
	for _, accept := range []string{jsonCT, gqlResponse} {
		httpCase{name: "bad token " + accept, method: http.MethodPost, contentType: jsonCT, accept: accept,
			body: `{"query": "{ clock { now } }"}`, status: 401, code: "UNAUTHENTICATED"}.run(t, e, "not-a-token")
	}
}

// A subscription sent as a plain POST answers at once with a coded error
// that names the websocket and SSE, instead of waiting for an event.
func TestSubscriptionOverPlainPOST(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("sub-post")
	start := time.Now()
	for _, accept := range []string{"", "application/json", "application/graphql-response+json"} {
		httpCase{name: "subscription, Accept " + accept, method: http.MethodPost, contentType: "application/json", accept: accept,
			body: `{"query": "subscription { checkIns { ip } }"}`, status: 400, code: "BAD_USER_INPUT"}.run(t, e, seller.Token)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("three refusals took %v", d)
	}
	r := e.Do(apitest.Request{Token: seller.Token, Query: `subscription { checkIns { ip } }`})
	if msg := r.Errors[0].Message; !strings.Contains(msg, "websocket") || !strings.Contains(msg, "text/event-stream") {
		t.Errorf("the message does not say how to subscribe: %q", msg)
	}
	if e.Subscribers() != 0 {
		t.Errorf("%d subscriptions left open", e.Subscribers())
	}
}
