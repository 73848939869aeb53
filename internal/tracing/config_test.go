package tracing

import "testing"

// The standard variables decide, and what clnd cannot export is refused
// at start rather than silently dropped.
func TestConfiguredByTheStandardVariables(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		on   bool
		err  bool
	}{
		{"nothing set", nil, false, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, false},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true, false},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false, false},
		{"sdk disabled wins", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false, false},
		{"http/protobuf", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, false},
		{"grpc refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, true},
		{"traces protocol overrides", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, true, false},
		{"zipkin refused", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
				t.Setenv(name, tc.env[name])
			}
			on, err := configured()
			if on != tc.on || (err != nil) != tc.err {
				t.Errorf("configured() = %v, %v; want %v, error %v", on, err, tc.on, tc.err)
			}
		})
	}
}

func TestStatementNamesAndTruncation(t *testing.T) {
	for query, want := range map[string]string{
		"SELECT 1":                             "SELECT",
		"  insert into t values ($1)":          "INSERT",
		"(SELECT 1) UNION (SELECT 2)":          "SELECT",
		"WITH x AS (SELECT 1) SELECT * FROM x": "WITH",
		"":                                     "SQL",
	} {
		if got := operation(query); got != want {
			t.Errorf("operation(%q) = %q, want %q", query, got, want)
		}
	}
	long := string(make([]byte, maxStatement-1)) + "é and more"
	if got := truncate(long); len(got) > maxStatement+len("…") || got[len(got)-len("…"):] != "…" {
		t.Errorf("truncate kept %d bytes", len(got))
	}
}
