// Package tracing is clnd's OpenTelemetry tracing: a span per HTTP request
// (otelhttp), per GraphQL operation and per SQL statement, with W3C trace
// context read from requests and sent on outgoing calls.
//
// Tracing is off unless the environment configures an OTLP endpoint. Off,
// nothing is wrapped: the HTTP handler, the GraphQL executor, the database
// connections and the payment clients are exactly what they are without
// this package, so tracing that nobody collects costs one boolean read at
// start-up and nothing per request.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentation names clnd's own spans (the scope in a tracing UI).
const instrumentation = "clnd"

var enabled atomic.Bool

// Enabled reports whether a tracer provider is installed (Setup found an
// exporter configured, or a test called Use). What is built while it is
// false stays untraced for its lifetime.
func Enabled() bool { return enabled.Load() }

// Use installs tp as the global tracer provider with the W3C trace-context
// and baggage propagators, and turns instrumentation on for everything
// built afterwards. Setup calls it; tests call it with an in-memory
// recorder.
func Use(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	enabled.Store(true)
}

func tracer() trace.Tracer { return otel.Tracer(instrumentation) }

// Setup installs an OTLP (http/protobuf) exporter when the standard
// variables ask for one: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, or OTEL_TRACES_EXPORTER=otlp (then
// the exporter's default, localhost:4318). OTEL_TRACES_EXPORTER=none or
// OTEL_SDK_DISABLED=true keep it off. The exporter itself reads the other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, TLS), the SDK reads
// OTEL_TRACES_SAMPLER and OTEL_BSP_*, and OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES name the service (clnd by default).
//
// The returned shutdown flushes the spans still buffered; call it once the
// server has drained. With tracing off it does nothing.
func Setup(ctx context.Context, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	off := func(context.Context) error { return nil }
	on, err := configured()
	if err != nil || !on {
		return off, err
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return off, fmt.Errorf("tracing: the OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("clnd"), semconv.ServiceVersion(version())),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: after the defaults, so they win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return off, fmt.Errorf("tracing: the service resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	// An unreachable collector must not take the API down: export errors
	// are logged and the spans dropped.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: exporting spans", "err", err) }))
	Use(tp)
	log.Info("tracing on", "exporter", "otlp", "protocol", "http/protobuf")
	return func(ctx context.Context) error {
		// What is built from now on is untraced again (a test binary may
		// serve more than once).
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return tp.Shutdown(ctx)
	}, nil
}

// configured reads the standard variables that turn the exporter on.
func configured() (bool, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e {
	case "none":
		return false, nil
	case "otlp":
	case "":
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return false, nil
		}
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: clnd exports traces with otlp only (or none)", e)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(os.Getenv(name)); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("%s=%q: clnd exports traces over http/protobuf only (a collector's port 4318)", name, p)
			}
			break // the traces-specific variable overrides the general one
		}
	}
	return true, nil
}

// version is the module version the binary was built from.
func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
