package accounts

import (
	"log/slog"
	"time"

	"clnd/ent"
	"clnd/internal/clock"

	"clnd/internal/money"
	"clnd/internal/payments"
)

// Service holds what the account rules need from configuration.
type Service struct {
	// Client opens the transactions that record payment outcomes, apart
	// from the request's own.
	Client *ent.Client
	// Gateway charges cards; Checkout runs redirect payments.
	Gateway  payments.Gateway
	Checkout payments.CheckoutProvider
	// Clock is the business clock for work outside a request (settling
	// after commit, the reconciler).
	Clock clock.Clock
	Log   *slog.Logger
	// Grace is how long the reconciler leaves a PENDING attempt to the
	// request that opened it (SettleGrace when zero).
	Grace time.Duration
	// ReturnOrigins are the dashboard origins a checkout may send the
	// payer back to.
	ReturnOrigins []string
	// MinDeposit is the smallest initial deposit a registration accepts.
	MinDeposit money.Cents
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// LoginFailures within LoginWindow for one login (or 4× that for one
	// address) make further attempts RATE_LIMITED until the window passes.
	LoginFailures int
	LoginWindow   time.Duration
}

// Defaults for the service.
var (
	DefaultMinDeposit    = money.MustParse("100.00")
	DefaultSessionTTL    = 7 * 24 * time.Hour
	DefaultLoginFailures = 5
	DefaultLoginWindow   = 15 * time.Minute
)

// NewService returns a service with the defaults and the gateway.
func NewService(g payments.Gateway) *Service {
	return &Service{
		Gateway:       g,
		MinDeposit:    DefaultMinDeposit,
		SessionTTL:    DefaultSessionTTL,
		LoginFailures: DefaultLoginFailures,
		LoginWindow:   DefaultLoginWindow,
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
