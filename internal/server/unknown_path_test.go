package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"clnd/internal/apitest"
)

// A path nothing serves answers 404 with a GraphQL error body coded
// NOT_FOUND, and a method a route does not take answers 405 with an Allow
// header and a coded body, as every other refusal does: not net/http's
// plain-text "404 page not found" or "Method Not Allowed". The routes
// themselves answer as before, and the CLN API keeps its own error shape.
func TestUnknownPathsAnswerCodedErrors(t *testing.T) {
	e := apitest.New(t, "sqlite")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.Server.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	refusals := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", 404, "NOT_FOUND", ""},
		{"POST", "/graphql/extra", 404, "NOT_FOUND", ""},
		{"DELETE", "/v2/checkin", 404, "NOT_FOUND", ""},
		{"GET", "/graphiql/nope.js", 404, "NOT_FOUND", ""},
		{"GET", "/invoices/inv_nope.pdf", 404, "NOT_FOUND", ""},
		{"GET", "/invoices/nope", 404, "NOT_FOUND", ""},
		{"GET", "/checkout/nope", 404, "NOT_FOUND", ""},
		{"POST", "/schema.graphql", 405, "BAD_USER_INPUT", "GET, HEAD"},
		{"PUT", "/invoices/inv_nope.pdf", 405, "BAD_USER_INPUT", "GET, HEAD"},
		{"POST", "/checkout/nope", 405, "BAD_USER_INPUT", "GET"},
		{"POST", "/graphiql/", 405, "BAD_USER_INPUT", "GET, HEAD"},
		{"GET", "/webhooks/payments/sandbox", 405, "BAD_USER_INPUT", "POST"},
	}
	for _, c := range refusals {
		resp, body := do(c.method, c.path)
		var out struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		err := json.Unmarshal([]byte(body), &out)
		if resp.StatusCode != c.status || err != nil || len(out.Errors) != 1 || out.Errors[0].Extensions.Code != c.code || out.Errors[0].Message == "" {
			t.Errorf("%s %s: HTTP %d %q, want %d and a GraphQL error coded %s", c.method, c.path, resp.StatusCode, body, c.status, c.code)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}

	// The routes answer as before.
	routes := []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/", 200, "<html"},
		{"GET", "/graphiql", 307, ""},
		{"GET", "/graphiql/", 200, "<html"},
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, "ok"},
		{"GET", "/metrics", 200, "clnd_http_requests_total"},
		{"GET", "/schema.graphql", 200, "type Query"},
		{"HEAD", "/schema.graphql", 200, ""},
		{"GET", "/graphql?query=%7Bclock%7Bsandbox%7D%7D", 200, `"sandbox":true`},
		{"PUT", "/graphql", 405, `"BAD_USER_INPUT"`},
		{"GET", "/api/nope", 404, `"success":false`},
	}
	for _, c := range routes {
		resp, body := do(c.method, c.path)
		if resp.StatusCode != c.status || !strings.Contains(body, c.contains) {
			t.Errorf("%s %s: HTTP %d %.200q, want %d with %q", c.method, c.path, resp.StatusCode, body, c.status, c.contains)
		}
	}
}
