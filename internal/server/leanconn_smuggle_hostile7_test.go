package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// TestHostileLeanSmugglingShapes sends request-smuggling and malformed
// shapes beyond TestLeanConnectionsAnswerAsNetHTTP's to a server with lean
// connections and to one with --net-http-only, and wants the same answers
// and the same request boundaries: a lean connection that read a request's
// end elsewhere than net/http would answer a smuggled request net/http
// never saw (or swallow one it answers).
func TestHostileLeanSmugglingShapes(t *testing.T) {
	lean := apitest.New(t, "sqlite", apitest.WithConfig(shortBodyTimeout))
	plain := apitest.New(t, "sqlite", apitest.WithConfig(func(c *server.Config) {
		shortBodyTimeout(c)
		c.NetHTTPOnly = true
	}))
	for _, e := range []*apitest.Env{lean, plain} {
		seller := e.Register("lean-smuggle")
		e.AddLicense(seller.Token, leanIP, "KERNELCARE", "")
	}
	const agent = `{"hostname":"web1.example.com"}`
	healthz := "GET /healthz HTTP/1.1\r\nHost: clnd.test\r\n\r\n"
	// raw is a check-in head with its header lines as given (no
	// Content-Length added), then body.
	raw := func(body string, headers ...string) string {
		return "POST /v1/checkin HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nX-Forwarded-For: " + leanIP + "\r\n" +
			strings.Join(headers, "\r\n") + "\r\n\r\n" + body
	}
	cl := func(n int) string { return "Content-Length: " + strconv.Itoa(n) }
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(agent), agent)
	// A head padded so that head and body end exactly at n bytes.
	padTo := func(n int, body string) string {
		base := raw(body, cl(len(body)), "X-Pad: ")
		return raw(body, cl(len(body)), "X-Pad: "+strings.Repeat("p", n-len(base)))
	}
	body2k := `{"hostname":"` + strings.Repeat("a", 2048-len(`{"hostname":".example"}`)) + `.example"}`
	graphqlPost := "POST /graphql HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n" + `{"query":"{__typename}"}`
	upgrade := "GET /graphql HTTP/1.1\r\nHost: clnd.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
	cases := []struct {
		name    string
		raw     string
		answers int
		onLean  int
	}{
		{"Content-Length then chunked", raw(chunked, cl(len(chunked)), "Transfer-Encoding: chunked") + healthz, 2, 0},
		{"chunked in lower case", raw(chunked, "transfer-encoding: chunked", cl(len(chunked))) + healthz, 2, 0},
		{"Transfer-Encoding: identity", raw(agent, "Transfer-Encoding: identity", cl(len(agent))), 1, 0},
		{"Transfer-Encoding with a space before its colon", raw(agent, cl(len(agent)), "Transfer-Encoding : chunked"), 1, 0},
		{"Transfer-Encoding with a tab", raw(chunked, cl(len(chunked)), "Transfer-Encoding:\tchunked") + healthz, 2, 0},
		{"Content-Length with leading zeros", raw(agent, "Content-Length: 00"+strconv.Itoa(len(agent))), 1, 1},
		{"Content-Length with spaces around", raw(agent, "Content-Length:   "+strconv.Itoa(len(agent))+"  "), 1, 1},
		{"Content-Length with a space inside", raw(agent, "Content-Length: 3 2"), 1, 0},
		{"a negative Content-Length", raw(agent, "Content-Length: -32"), 1, 0},
		{"Content-Length as a list", raw(agent, "Content-Length: 32, 32"), 1, 0},
		{"Content-Length in hex", raw(agent, "Content-Length: 0x20"), 1, 0},
		{"a huge Content-Length", raw(agent, "Content-Length: 99999999999999999999999"), 1, 0},
		{"two equal Content-Lengths", raw(agent, cl(len(agent)), cl(len(agent))), 1, 0},
		{"Content-Length over the limit, body short", raw(agent, "Content-Length: 9999"), 1, 0},
		{"a body of exactly 2 KiB", raw(body2k, cl(len(body2k))), 1, 1},
		{"a body of 2 KiB and one byte", raw(body2k+" ", cl(len(body2k)+1)), 1, 0},
		{"head and body of exactly 4 KiB", padTo(4096, agent), 1, 1},
		{"head and body one byte over 4 KiB", padTo(4097, agent), 1, 0},
		{"a head ending exactly at 4 KiB", padTo(4096+len(agent), agent), 1, 0},
		{"a Content-Length short of the body: a second request", raw(agent+healthz, cl(len(agent))), 2, 1},
		{"a Content-Length past the JSON: one body", raw(agent+healthz, cl(len(agent+healthz))), 1, 0},
		{"a NUL in a header", raw(agent, cl(len(agent)), "X-Extra: a\x00b"), 1, 0},
		{"a bare CR in a header", raw(agent, cl(len(agent)), "X-Extra: a\rb"), 1, 0},
		{"a bare LF hiding a header", raw(agent, cl(len(agent)), "X-Extra: a\nTransfer-Encoding: chunked"), 1, 0},
		{"a bare LF hiding a Content-Length", raw(agent+healthz, cl(len(agent)+len(healthz)), "X-Extra: a\nContent-Length: "+strconv.Itoa(len(agent))), 2, 0},
		{"a raw NUL in the body", raw("{\"hostname\":\"a\x00b\"}", cl(len("{\"hostname\":\"a\x00b\"}"))), 1, 0},
		{"a NUL in a form", strings.Replace(raw("hostname=a%00b", cl(len("hostname=a%00b"))), "application/json", "application/x-www-form-urlencoded", 1), 1, 1}, // refused by the endpoint
		{"a header name not ASCII", raw(agent, cl(len(agent)), "X-\xc3\xa9: 1"), 1, 0},
		{"a path not ASCII", strings.Replace(raw(agent, cl(len(agent))), "/v1/checkin", "/v1/checkin\xff", 1), 1, 0},
		{"a very long request line", strings.Replace(raw(agent, cl(len(agent))), "/v1/checkin", "/v1/checkin/"+strings.Repeat("x", 8000), 1), 1, 0},
		{"an empty line first", "\r\n" + raw(agent, cl(len(agent))), 1, 0},
		{"two spaces after the method", strings.Replace(raw(agent, cl(len(agent))), "POST ", "POST  ", 1), 1, 0},
		{"an empty Host", strings.Replace(raw(agent, cl(len(agent))), "Host: clnd.test", "Host:", 1), 1, 0},
		{"a Host with a space", strings.Replace(raw(agent, cl(len(agent))), "Host: clnd.test", "Host: clnd .test", 1), 1, 0},
		{"Connection: keep-alive, close", raw(agent, cl(len(agent)), "Connection: keep-alive, close") + healthz, 2, 0},
		{"Connection: keep-alive and Connection: close", raw(agent, cl(len(agent)), "Connection: keep-alive", "Connection: close") + healthz, 2, 1},
		{"a check-in, then garbage", raw(agent, cl(len(agent))) + "\x16\x03\x01\x02\x00garbage\r\n\r\n", 2, 1},
		{"a check-in, then GraphQL", raw(agent, cl(len(agent))) + graphqlPost + raw(agent, cl(len(agent))), 3, 1},
		{"a check-in, then a websocket upgrade", raw(agent, cl(len(agent))) + upgrade, 2, 1},
		{"a check-in, another path, a check-in", raw(agent, cl(len(agent))) + healthz + raw(agent, cl(len(agent))), 3, 1},
		{"ten pipelined, then GraphQL", strings.Repeat(raw(agent, cl(len(agent))), 10) + graphqlPost, 11, 10},
	}
	for _, c := range cases {
		answersAlike(t, lean, plain, c.name, c.raw, c.answers, c.onLean)
	}
}
