package tracing_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/tracing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// recorder holds every span this test binary's instances end. It is
// installed before any traced instance starts: tracing is decided when the
// database and the handler are built.
var (
	recorder    = tracetest.NewSpanRecorder()
	useRecorder = sync.OnceFunc(func() { tracing.Use(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))) })
)

const resellersQuery = `query Resellers { resellers(first: 5) { totalCount edges { node { id login } } } }`

// TestOneTracePerRequest runs clnd with the SDK's in-memory recorder as its
// tracer provider and follows a query and a mutation: each request is one
// trace whose root is otelhttp's server span, with the GraphQL operation's
// span under it and the SQL statements under that. An incoming traceparent
// is continued, and neither a password nor a token reaches any span.
func TestOneTracePerRequest(t *testing.T) {
	useRecorder()
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		// The shadow instance (PostgreSQL's differential check) would answer
		// the same request ids in traces of its own.
		prefix := "req_trace_" + e.Backend + "_"

		reg := e.Do(apitest.Request{Query: apitest.RegisterMutation, Variables: map[string]any{"input": apitest.RegistrationInput("tracer")},
			Header: map[string]string{"X-Request-ID": prefix + "register"}})
		if len(reg.Errors) > 0 {
			t.Fatalf("registerReseller: %s", reg.Raw)
		}
		spans := traceOf(t, prefix+"register")
		op := expectTree(t, spans, "mutation")
		expectSQL(t, spans, op, "INSERT", "COMMIT")
		noSecrets(t, spans, "correct horse battery", sessionToken(t, string(reg.Raw)))

		// Twice: on PostgreSQL the compiled read runs unprepared, then
		// prepared (stmtcache.go); both statements are spans.
		for i := range 2 {
			id := fmt.Sprintf("%squery%d", prefix, i)
			r := e.Do(apitest.Request{Token: e.OperatorToken, Query: resellersQuery, Header: map[string]string{"X-Request-ID": id}})
			if len(r.Errors) > 0 {
				t.Fatalf("resellers: %s", r.Raw)
			}
			spans := traceOf(t, id)
			op := expectTree(t, spans, "query Resellers")
			if e.Backend == "postgres" && i == 1 {
				expectSQL(t, spans, op, "PREPARE", "SELECT") // the compiled read's statement cache
			} else {
				expectSQL(t, spans, op, "SELECT")
			}
			noSecrets(t, spans, e.OperatorToken)
		}

		// A caller's trace goes on: the server span is the child of the
		// caller's span, in the caller's trace.
		callerTrace, callerSpan := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02x", len(e.Backend)), "00f067aa0ba902b7"
		r := e.Do(apitest.Request{Token: e.OperatorToken, Query: resellersQuery, Header: map[string]string{
			"X-Request-ID": prefix + "continued",
			"traceparent":  "00-" + callerTrace + "-" + callerSpan + "-01",
		}})
		if len(r.Errors) > 0 {
			t.Fatalf("resellers: %s", r.Raw)
		}
		spans = traceOf(t, prefix+"continued")
		root := spans[0]
		if got := root.SpanContext().TraceID().String(); got != callerTrace {
			t.Errorf("the request's trace is %s, want the caller's %s", got, callerTrace)
		}
		if got := root.Parent().SpanID().String(); got != callerSpan || !root.Parent().IsRemote() {
			t.Errorf("the server span's parent is %s (remote %v), want the caller's span %s", got, root.Parent().IsRemote(), callerSpan)
		}
		expectSQL(t, spans, expectTree(t, spans, "query Resellers"), "SELECT")
	}, apitest.WithoutShadow())
}

// traceOf waits for the server span of the request with the id and returns
// it first, then every other span of its trace.
func traceOf(t *testing.T, requestID string) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// otelhttp ends the server span after the handler returns, which
		// may be after the client has read the response.
		ended := recorder.Ended()
		var root sdktrace.ReadOnlySpan
		for _, s := range ended {
			if s.SpanKind() == trace.SpanKindServer && attr(s, "clnd.request_id") == requestID {
				if root != nil {
					t.Fatalf("two server spans for request %s", requestID)
				}
				root = s
			}
		}
		if root != nil {
			out := []sdktrace.ReadOnlySpan{root}
			for _, s := range ended {
				if s != root && s.SpanContext().TraceID() == root.SpanContext().TraceID() {
					out = append(out, s)
				}
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span for request %s among %d spans", requestID, len(ended))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectTree checks that the trace has one root, the server span, and
// that the GraphQL operation's span (named name) is its child; it returns
// the operation's span.
func expectTree(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	root := spans[0]
	var op sdktrace.ReadOnlySpan
	for _, s := range spans[1:] {
		if s.Parent().SpanID() == root.SpanContext().SpanID() && s.Name() == name {
			op = s
		}
		if !s.Parent().IsValid() || s.Parent().IsRemote() {
			t.Errorf("span %q is a second root of the request's trace", s.Name())
		}
	}
	if op == nil {
		t.Fatalf("no span %q under the server span %q; the trace: %s", name, root.Name(), describe(spans))
	}
	if got := attr(op, "graphql.operation.type"); !strings.HasPrefix(name, got) {
		t.Errorf("graphql.operation.type is %q in span %q", got, name)
	}
	return op
}

// expectSQL checks that statements of each kind (span names) ran under the
// operation's span, with the database system and the statement text.
func expectSQL(t *testing.T, spans []sdktrace.ReadOnlySpan, op sdktrace.ReadOnlySpan, kinds ...string) {
	t.Helper()
	found := map[string]bool{}
	for _, s := range spans {
		if attr(s, "db.system.name") == "" || !descends(spans, s, op) {
			continue
		}
		found[s.Name()] = true
		if text := attr(s, "db.query.text"); s.Name() != "BEGIN" && s.Name() != "COMMIT" && s.Name() != "ROLLBACK" && text == "" {
			t.Errorf("SQL span %q has no db.query.text", s.Name())
		}
	}
	for _, k := range kinds {
		if !found[k] {
			t.Errorf("no %s statement under %q; the trace: %s", k, op.Name(), describe(spans))
		}
	}
}

// descends reports whether s is below ancestor in the trace.
func descends(spans []sdktrace.ReadOnlySpan, s, ancestor sdktrace.ReadOnlySpan) bool {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, x := range spans {
		byID[x.SpanContext().SpanID()] = x
	}
	for p := s.Parent().SpanID(); ; {
		if p == ancestor.SpanContext().SpanID() {
			return true
		}
		parent, ok := byID[p]
		if !ok {
			return false
		}
		p = parent.Parent().SpanID()
	}
}

// noSecrets fails when any attribute or event of the spans holds one of
// the values.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	check := func(where string, attrs []attribute.KeyValue) {
		for _, a := range attrs {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(a.Value.Emit(), secret) {
					t.Errorf("%s: attribute %s holds a secret", where, a.Key)
				}
			}
		}
	}
	for _, s := range spans {
		check(s.Name(), s.Attributes())
		for _, ev := range s.Events() {
			check(s.Name()+" event "+ev.Name, ev.Attributes)
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func describe(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s %q (parent %s)", s.SpanContext().SpanID(), s.Name(), s.Parent().SpanID())
	}
	return b.String()
}

// sessionToken digs registerReseller's token out of the raw response.
func sessionToken(t *testing.T, raw string) string {
	t.Helper()
	_, rest, ok := strings.Cut(raw, `"token":"`)
	token, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || token == "" {
		t.Fatalf("no token in %s", raw)
	}
	return token
}

// otelhttp wraps the response writer; websockets (which hijack it) and
// server-sent events (which flush it) must work through the wrapper, and
// an operation on a socket is a span too.
func TestStreamsThroughTheTracedHandler(t *testing.T) {
	useRecorder()
	e := apitest.New(t, "sqlite", apitest.WithoutShadow())
	ws := e.DialWS(e.OperatorToken)
	if got := string(ws.Do(`query OverSocket { resellers(first: 1) { totalCount } }`, nil)); !strings.Contains(got, "totalCount") {
		t.Fatalf("a query over the traced websocket answered %s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !hasSpan("query OverSocket", "graphql.operation.name", "OverSocket") {
		if time.Now().After(deadline) {
			t.Fatal("no span for the operation on the websocket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.Subscribe(e.OperatorToken, `subscription { checkIns { ip hostname } }`, nil)
	e.SubscribeSSE(e.OperatorToken, `subscription { checkIns { ip hostname } }`, nil)
}

func hasSpan(name, key, value string) bool {
	for _, s := range recorder.Ended() {
		if s.Name() == name && attr(s, key) == value {
			return true
		}
	}
	return false
}

// A payment provider's webhook that carries a traceparent joins the
// caller's trace like any request, under its route's name.
func TestWebhookContinuesTheCallersTrace(t *testing.T) {
	useRecorder()
	e := apitest.New(t, "sqlite", apitest.WithoutShadow())
	const callerTrace, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	req, err := http.NewRequest(http.MethodPost, e.Server.URL+"/webhooks/payments/sandbox", strings.NewReader(`{"id":"evt_unsigned"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "req_trace_webhook")
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := traceOf(t, "req_trace_webhook")
	root := spans[0]
	if root.SpanContext().TraceID().String() != callerTrace || root.Parent().SpanID().String() != callerSpan {
		t.Errorf("the webhook's span is in trace %s under %s, want the caller's %s under %s",
			root.SpanContext().TraceID(), root.Parent().SpanID(), callerTrace, callerSpan)
	}
	if root.Name() != "POST /webhooks/payments/sandbox" {
		t.Errorf("the webhook's span is named %q", root.Name())
	}
}

// The payment providers' transport sends the current trace's context.
func TestTransportSendsTheTraceContext(t *testing.T) {
	useRecorder()
	got := make(chan string, 1)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer provider.Close()
	ctx, span := otel.Tracer("test").Start(context.Background(), "charge")
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, provider.URL+"/v1/payment_intents", nil)
	resp, err := (&http.Client{Transport: tracing.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	traceparent := <-got
	if want := span.SpanContext().TraceID().String(); !strings.Contains(traceparent, "-"+want+"-") {
		t.Errorf("the provider got traceparent %q, want one in trace %s", traceparent, want)
	}
}
