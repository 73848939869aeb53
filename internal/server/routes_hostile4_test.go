package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"clnd/internal/apitest"
)

// TestHostileRouteTricks sends raw requests (no client normalisation) to
// every route with path tricks and odd methods. A 405 always carries Allow
// (RFC 9110 requires it; HEAD /graphql answered a bare 405), a 404 is coded,
// a cleaned path redirects with 307 (the method kept), /healthz, /readyz and
// /metrics stay plain text, and the CLN API keeps its own error shape.
func TestHostileRouteTricks(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		addr := strings.TrimPrefix(e.Server.URL, "http://")
		raw := func(method, target string) (*http.Response, string) {
			t.Helper()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, target)
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
			if err != nil {
				t.Fatalf("%s %s: %v", method, target, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body)
		}
		cases := []struct {
			method, target string
			status         int
			allow          string // for 405s
			contains       string // in the body (not for HEAD)
			location       string // for redirects
			contentType    string // its prefix
		}{
			{"HEAD", "/graphql", 405, "GET, POST, OPTIONS", "", "", ""},
			{"PUT", "/graphql", 405, "GET, POST, OPTIONS", `"BAD_USER_INPUT"`, "", "application/json"},
			{"BREW", "/graphql", 405, "GET, POST, OPTIONS", `"BAD_USER_INPUT"`, "", "application/json"},
			{"OPTIONS", "/graphql", 200, "", "", "", ""},
			{"HEAD", "/v1/checkin", 405, "POST", "", "", ""},
			{"OPTIONS", "/v1/checkin", 405, "POST", `"BAD_USER_INPUT"`, "", "application/json"},
			{"BREW", "/schema.graphql", 405, "GET, HEAD", `"BAD_USER_INPUT"`, "", "application/json"},
			{"POST", "/", 405, "GET, HEAD", `"BAD_USER_INPUT"`, "", "application/json"},
			{"POST", "/graphql/", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"POST", "/GRAPHQL", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"POST", "/v1/checkin/", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"POST", "/graphql%2F", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"GET", "/%2e%2e/graphql", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"HEAD", "/nope", 404, "", "", "", "application/json"},
			{"OPTIONS", "/nope", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"GET", "/graphiql/app.js", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"GET", "/invoices/", 404, "", `"NOT_FOUND"`, "", "application/json"},
			{"POST", "//graphql", 307, "", "", "/graphql", ""},
			{"POST", "/x/../graphql", 307, "", "", "/graphql", ""},
			{"POST", "/v1//checkin", 307, "", "", "/v1/checkin", ""},
			{"GET", "/healthz", 200, "", "ok", "", "text/plain"},
			{"HEAD", "/healthz", 200, "", "", "", "text/plain"},
			{"GET", "/readyz", 200, "", "ok", "", "text/plain"},
			{"GET", "/metrics", 200, "", "clnd_http_requests_total", "", "text/plain"},
			{"HEAD", "/metrics", 200, "", "", "", "text/plain"},
			{"GET", "/api/", 404, "", `"success":false`, "", "application/json"},
			{"DELETE", "/api/ipl/list.json", 405, "GET, POST", `"success":false`, "", "application/json"},
		}
		for _, c := range cases {
			resp, body := raw(c.method, c.target)
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: HTTP %d %.200q, want %d", c.method, c.target, resp.StatusCode, body, c.status)
				continue
			}
			if got := resp.Header.Get("Allow"); c.status == 405 && got != c.allow {
				t.Errorf("%s %s: 405 with Allow %q, want %q", c.method, c.target, got, c.allow)
			}
			if !strings.Contains(body, c.contains) {
				t.Errorf("%s %s: body %.200q, want %q in it", c.method, c.target, body, c.contains)
			}
			if got := resp.Header.Get("Location"); got != c.location {
				t.Errorf("%s %s: Location %q, want %q", c.method, c.target, got, c.location)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, c.contentType) {
				t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.target, got, c.contentType)
			}
		}
	})
}
