package tracing_test

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"clnd/internal/apitest"
	"clnd/internal/tracing"
)

// BenchmarkQueryTracing is one GraphQL query over HTTP on SQLite, untraced
// and then traced (spans built and handed to an exporter that drops them),
// to see what tracing costs a request. Run it alone: "off" must run before
// anything in the process turns tracing on.
//
//	go test ./internal/tracing/ -run '^$' -bench QueryTracing -benchmem
func BenchmarkQueryTracing(b *testing.B) {
	if tracing.Enabled() {
		b.Skip("tracing is already on in this process (run the benchmark alone)")
	}
	query := func(b *testing.B) {
		e := apitest.New(b, "sqlite", apitest.WithoutShadow())
		req := apitest.Request{Token: e.OperatorToken, Query: resellersQuery}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if r := e.Do(req); len(r.Errors) > 0 {
				b.Fatalf("%s", r.Raw)
			}
		}
	}
	b.Run("off", query)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(b.Context())
	tracing.Use(tp)
	b.Run("on", query)
}
