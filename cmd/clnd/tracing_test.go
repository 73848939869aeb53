package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"clnd/internal/apitest"
)

// otlpCollector is an in-process OTLP/HTTP trace receiver: it keeps every
// span it is sent, by name.
type otlpCollector struct {
	mu    sync.Mutex
	spans []collectedSpan
}

type collectedSpan struct {
	name, trace, id, parent string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, collectedSpan{name: s.Name, trace: hex.EncodeToString(s.TraceId),
					id: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId)})
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// clnd serve with OTEL_EXPORTER_OTLP_ENDPOINT set sends its spans to that
// collector: one trace for the request, the GraphQL operation under the
// request's span, SQL statements under the operation; the last spans are
// flushed when serve stops.
func TestServeExportsTracesOverOTLP(t *testing.T) {
	collector := &otlpCollector{}
	srv := httptest.NewServer(collector)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "60000") // only the flush at the end sends

	url := apitest.URL(t, "sqlite")
	out, _, err := runCLI(t, "admin", "create-token", "--name", "ops", "--database-url", url)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--sandbox", "--addr", addr, "--database-url", url}, io.Discard, &stderr)
	}()
	body := `{"query":"query Resellers { resellers(first: 2) { totalCount } }"}`
	var resp *http.Response
	for range 200 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), "totalCount") {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, answer)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}

	collector.mu.Lock()
	defer collector.mu.Unlock()
	var root, op *collectedSpan
	for i, s := range collector.spans {
		switch s.name {
		case "POST /graphql":
			root = &collector.spans[i]
		case "query Resellers":
			op = &collector.spans[i]
		}
	}
	if root == nil || op == nil {
		t.Fatalf("the collector got %d spans, no request or operation span among them: %+v\n%s", len(collector.spans), collector.spans, stderr.String())
	}
	if op.trace != root.trace || op.parent != root.id {
		t.Errorf("the operation's span (trace %s, parent %s) is not under the request's (trace %s, id %s)", op.trace, op.parent, root.trace, root.id)
	}
	statements := 0
	for _, s := range collector.spans {
		if s.name == "SELECT" && s.parent == op.id && s.trace == root.trace {
			statements++
		}
	}
	if statements == 0 {
		t.Errorf("no SELECT span under the operation: %+v", collector.spans)
	}
}
