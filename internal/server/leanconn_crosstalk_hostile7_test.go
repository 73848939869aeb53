package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// TestHostileLeanAnswersReachTheirOwnRequest: 32 agents at once on one
// server (SQLite and PostgreSQL), each pipelining runs of 1-8 check-ins of
// hosts with different licenses, of an unlicensed host, and with an
// unknown credential, some with a GraphQL request in the middle (the rest
// of that connection is net/http's). Every answer carries its request's
// X-Request-ID and its own host's licenses or refusal: no answer reaches
// another request or another connection, and none is lost or doubled.
func TestHostileLeanAnswersReachTheirOwnRequest(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("lean-crosstalk")
		kinds := []struct{ ip, typ string }{
			{"203.0.113.81", "KERNELCARE"},
			{"203.0.113.82", "IMUNIFYAV_PLUS"},
			{"203.0.113.83", ""}, // no license
			{"203.0.113.84", "CREDENTIAL"},
		}
		for _, k := range kinds[:2] {
			e.AddLicense(seller.Token, k.ip, k.typ, "")
		}
		request := func(kind int, id string) string {
			k := kinds[kind]
			body := `{"hostname":"x` + id + `.example.com"}`
			if k.typ == "CREDENTIAL" {
				body = `{"hostname":"x.example.com","credential":"clnd_srv_` + strings.Repeat("q", 40) + `"}`
			}
			return "POST /v1/checkin HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nX-Forwarded-For: " + k.ip +
				"\r\nX-Request-ID: " + id + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		}
		const agents, runs = 32, 40
		graphql := func(id string) string {
			body := `{"query":"{__typename}"}`
			return "POST /graphql HTTP/1.1\r\nHost: clnd.test\r\nContent-Type: application/json\r\nX-Request-ID: " + id +
				"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		}
		before := leanCount(t, e, "answered")
		var wg sync.WaitGroup
		for a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", strings.TrimPrefix(e.Server.URL, "http://"))
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(conn)
				for run := range runs {
					n := 1 + (a+run)%8
					type sent struct {
						id   string
						kind int // -1: GraphQL
					}
					var batch []sent
					var raw strings.Builder
					for i := range n {
						id := fmt.Sprintf("a%d-r%d-%d", a, run, i)
						if a%5 == 0 && run == runs/2 && i == n/2 {
							raw.WriteString(graphql(id))
							batch = append(batch, sent{id, -1})
							continue
						}
						kind := (a + run + i) % len(kinds)
						raw.WriteString(request(kind, id))
						batch = append(batch, sent{id, kind})
					}
					if _, err := io.WriteString(conn, raw.String()); err != nil {
						t.Error(err)
						return
					}
					for _, s := range batch {
						resp, err := http.ReadResponse(r, nil)
						if err != nil {
							t.Errorf("%s: %v", s.id, err)
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if got := resp.Header.Get("X-Request-Id"); got != s.id {
							t.Errorf("the answer to %s carries request ID %q: %s %s", s.id, got, resp.Status, body)
							return
						}
						if msg := wrongAnswer(s.kind, kinds[max(s.kind, 0)].typ, resp.StatusCode, body); msg != "" {
							t.Errorf("%s: %s: %s %s", s.id, msg, resp.Status, body)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		if n := leanCount(t, e, "answered") - before; n < agents*runs {
			t.Errorf("only %d check-ins were answered on lean connections", n)
		}
	})
}

// wrongAnswer says what is wrong with an answer to a request of kind (-1:
// GraphQL), or "".
func wrongAnswer(kind int, typ string, status int, body []byte) string {
	switch {
	case kind < 0:
		if status != http.StatusOK || !strings.Contains(string(body), `"__typename":"Mutation"`) && !strings.Contains(string(body), `"__typename":"Query"`) {
			return "not GraphQL's answer"
		}
	case typ == "CREDENTIAL":
		if status != http.StatusUnauthorized {
			return "not the unknown credential's 401"
		}
	default:
		var out struct{ Licensed []string }
		if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
			return "not a check-in's answer"
		}
		want := []string{}
		if typ != "" {
			want = []string{typ}
		}
		if fmt.Sprint(out.Licensed) != fmt.Sprint(want) {
			return fmt.Sprintf("licensed %v, want %v", out.Licensed, want)
		}
	}
	return ""
}
