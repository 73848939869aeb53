package accounts

import (
	"time"

	"clnd/internal/money"
	"clnd/internal/payments"
)

// Service holds what the account rules need from configuration.
type Service struct {
	Gateway payments.Gateway
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
