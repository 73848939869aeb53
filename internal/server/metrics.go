package server

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"clnd/internal/checkin"
	"clnd/internal/clock"
	"clnd/internal/live"
)

// metrics are clnd's Prometheus series, on a registry of the server's own so
// that several servers in one test process do not collide.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	// reads counts root query fields by whether internal/sqlgraph compiled them.
	reads *prometheus.CounterVec
	// operations times GraphQL operations by name (operationNames bounds them).
	operations     *prometheus.HistogramVec
	operationNames *operationNames
	// unauthenticated counts requests refused for their credential.
	unauthenticated *prometheus.CounterVec
	// lean counts check-ins answered on lean connections, and connections
	// they handed to net/http (leanconn.go).
	lean *prometheus.CounterVec
}

func newMetrics(db *sql.DB, hub *live.Hub, checkIns *checkin.Service) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clnd_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clnd_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clnd_graphql_errors_total",
			Help: "GraphQL errors returned, by extensions.code.",
		}, []string{"code"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clnd_graphql_root_fields_total",
			Help: "Root query fields answered, by field and path: compiled (one SQL statement) or gqlgen.",
		}, []string{"field", "path"}),
		operations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "clnd_graphql_operation_duration_seconds",
			Help: "GraphQL queries and mutations by operation name (anonymous for unnamed ones; other past " +
				strconv.Itoa(maxOperationNames) + " names) and type, from reading the request to the response being ready.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"operation", "type"}),
		operationNames: &operationNames{seen: map[string]bool{}},
		unauthenticated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clnd_unauthenticated_requests_total",
			Help: "Requests refused (401, or websocket close 4403) for their credential: reason malformed (not \"Bearer <token>\") or invalid_token (unknown, expired or revoked).",
		}, []string{"reason"}),
		lean: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clnd_lean_connections_total",
			Help: "Lean connections' work (docs/checkins.md): outcome answered counts check-ins answered on them, handed_over connections handed to net/http at a request that was not a plain check-in.",
		}, []string{"outcome"}),
	}
	m.registry.MustRegister(
		m.requests, m.latency, m.errors, m.reads, m.operations, m.unauthenticated, m.lean,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db, "clnd"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clnd_checkin_subscribers",
			Help: "Check-in subscriptions open on this instance.",
		}, func() float64 { n, _, _ := hub.Stats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "clnd_checkin_events_delivered_total",
			Help: "Check-in events handed to subscribers on this instance.",
		}, func() float64 { _, d, _ := hub.Stats(); return float64(d) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "clnd_checkin_event_renderings_total",
			Help: "Check-in events rendered for a group of subscriptions sharing document, variables and credential; delivered ÷ renderings is how many subscribers share one.",
		}, func() float64 { return float64(hub.Renderings()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "clnd_checkins_total",
			Help: "Check-ins written by this instance.",
		}, func() float64 { _, n := checkIns.Stats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "clnd_checkin_batches_total",
			Help: "Transactions that wrote check-ins; check-ins ÷ batches is the batching factor.",
		}, func() float64 { n, _ := checkIns.Stats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "clnd_checkin_subscribers_disconnected_total",
			Help: "Subscribers dropped because they fell too far behind.",
		}, func() float64 { _, _, x := hub.Stats(); return float64(x) }),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// instrument counts and times the requests of one route.
// The route's latency and its 200s are looked up once, not per request
// (hashing the label values each time was a measurable part of a check-in).
func (m *metrics) instrument(route string, next http.Handler) http.Handler {
	observe := m.observer(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clock.Wall()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		observe(rec.status, start)
	})
}

// observer counts and times route's requests, as instrument does, for what
// answers them without net/http's handlers (leanconn.go).
func (m *metrics) observer(route string) func(status int, start time.Time) {
	latency := m.latency.WithLabelValues(route)
	ok := m.requests.WithLabelValues(route, "200")
	return func(status int, start time.Time) {
		if status == http.StatusOK {
			ok.Inc()
		} else {
			m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		}
		latency.Observe(time.Since(start).Seconds())
	}
}

// statusRecorder remembers the status code; it passes Flush and Unwrap on so
// that SSE and websocket upgrades still work through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack lets a websocket upgrade take over the connection.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("the response writer cannot be hijacked")
	}
	r.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// compiledRead counts one root query field.
func (m *metrics) compiledRead(field string, compiled bool) {
	path := "gqlgen"
	if compiled {
		path = "compiled"
	}
	m.reads.WithLabelValues(field, path).Inc()
}

// pendingDeliveries is the webhook queue's depth: deliveries not yet
// delivered, failed or canceled, read at each scrape.
func pendingDeliveries(db *sql.DB) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "clnd_webhook_deliveries_pending",
		Help: "Webhook deliveries waiting for their first or next attempt (the delivery queue's depth).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var n float64
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING'`).Scan(&n); err != nil {
			return -1
		}
		return n
	})
}
