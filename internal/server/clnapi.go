package server

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"clnd/graph"
	"clnd/internal/apperr"
	"clnd/internal/clnapi"
)

// mountCLNAPI serves the CLN reseller REST API (internal/clnapi) under
// /api/, each call counted in the metrics under its own path. cfg.Keyring is
// New's: the configured key, or sandbox mode's, made once and kept in the
// database, shared by every instance.
func (s *Server) mountCLNAPI(mux *http.ServeMux, cfg *Config, resolver *graph.Resolver) error {
	keyring := cfg.Keyring
	resolver.CLNSecrets = keyring
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clnd_cln_api_refused_total",
		Help: "CLN API requests refused for their token, by reason: malformed, expired, invalid, replayed, rate_limited or disabled (no CLND_SECRETS_KEY).",
	}, []string{"reason"})
	s.metrics.registry.MustRegister(refused)
	h := &clnapi.Handler{
		Client:      s.db.Client,
		Keyring:     keyring,
		Sandbox:     cfg.Sandbox,
		BackupSizes: cfg.BackupSizes,
		RateLimit:   cfg.CLNRateLimit,
		// The one error presenter: unknown errors are logged with the
		// request id and shown as INTERNAL, as on /graphql.
		Present: func(ctx context.Context, err error) (apperr.Code, string) {
			e := s.presentError(ctx, err)
			code, _ := e.Extensions["code"].(string)
			return apperr.Code(code), e.Message
		},
		Refused: func(reason string) { refused.WithLabelValues(reason).Inc() },
		Log:     s.log,
	}
	for path, route := range h.Routes() {
		// Not limitBody: its refusal is GraphQL-shaped, and CLN clients read
		// {"success", "message"}; the handler bounds its form itself.
		mux.Handle(path, s.metrics.instrument(path, route))
	}
	return nil
}
