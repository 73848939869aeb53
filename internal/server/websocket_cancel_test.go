package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// A subscription the client completes while it is starting, or whose socket
// closes then, is the client's doing, not the server's: the context.Canceled
// its resolver meets is neither logged as an internal error nor counted as
// INTERNAL in clnd_graphql_errors_total.
func TestCancelledSubscriptionIsNotInternal(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("cancel-start")
		const n = 50
		conn, ctx := transportWS(t, e, seller.Token)
		for i := 0; i < n; i++ {
			id := fmt.Sprint(i)
			send(t, ctx, conn, `{"id":"`+id+`","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`)
			send(t, ctx, conn, `{"id":"`+id+`","type":"complete"}`)
		}
		for completes := 0; completes < n; {
			_, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("after %d completes: %v", completes, err)
			}
			var m struct{ Type string }
			_ = json.Unmarshal(b, &m)
			if m.Type == "complete" {
				completes++
			}
		}
		// Sockets closed while their subscriptions start.
		for i := 0; i < 10; i++ {
			closing, ctx := transportWS(t, e, seller.Token)
			for j := 0; j < 5; j++ {
				send(t, ctx, closing, fmt.Sprintf(`{"id":"%d","type":"subscribe","payload":{"query":"subscription { checkIns { hostname } }"}}`, j))
			}
			closing.CloseNow()
		}
		waitSubscribers(t, e, 0, 5*time.Second)
		time.Sleep(200 * time.Millisecond) // the last resolvers finish
		if internal := errorsCounted(t, e, "INTERNAL"); internal != "0" {
			t.Fatalf("subscriptions cancelled by their clients counted %s INTERNAL errors", internal)
		}
	})
}

// errorsCounted reads clnd_graphql_errors_total for code from /metrics.
func errorsCounted(t *testing.T, e *apitest.Env, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Server.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	prefix := `clnd_graphql_errors_total{code="` + code + `"} `
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return "0"
}
