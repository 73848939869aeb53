package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Handler makes each request a span (otelhttp), continuing the trace of an
// incoming W3C traceparent header, webhooks included. route names the
// span ("POST /graphql"): the handler pattern that serves the request, so
// that IDs in paths do not make every span name unique. The span carries
// the response's X-Request-ID as clnd.request_id, to find a request's log
// lines from its trace. Query strings are not recorded.
func Handler(next http.Handler, route func(*http.Request) string) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if id := w.Header().Get("X-Request-ID"); id != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("clnd.request_id", id))
		}
	})
	return otelhttp.NewHandler(inner, "clnd", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + route(r)
	}))
}

// Transport sends the current trace context (traceparent, baggage) with
// each outgoing request and makes the call a client span, or is base
// itself with tracing off. base nil means http.DefaultTransport.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if !Enabled() {
		return base
	}
	return otelhttp.NewTransport(base)
}
