package events

import (
	"time"

	"clnd/ent"
	"clnd/ent/reseller"
	"clnd/internal/autopay"
	"clnd/internal/money"
)

// The objects events carry: each is what the API shows of the thing, with
// the GraphQL schema's field names, Money as "20.00" strings and times in
// RFC 3339 UTC, as the GraphQL scalars write them. An edge to another object
// is its ID (resellerID, licenseID, ...): node(id:) reads the rest.

// License is an IPLicense.
type License struct {
	ID          string  `json:"id"`
	IP          string  `json:"ip"`
	Hostname    string  `json:"hostname"`
	Type        string  `json:"type"`
	ProductID   string  `json:"productID"`
	ResellerID  string  `json:"resellerID"`
	CreatedAt   string  `json:"createdAt"`
	LastCheckIn *string `json:"lastCheckIn"`
	// Status is the license's status when the event happened, by the
	// API's rule (licensing.StatusAt), which the caller applies.
	Status    string  `json:"status"`
	RemovedAt *string `json:"removedAt"`
}

// ObjectID implements Object.
func (l License) ObjectID() string { return l.ID }

// LicenseOf shows a license with its status as the API computed it.
func LicenseOf(l *ent.IPLicense, status string) License {
	return License{
		ID:          l.ID,
		IP:          l.IP,
		Hostname:    l.Hostname,
		Type:        string(l.Type),
		ProductID:   l.ProductID,
		ResellerID:  l.ResellerID,
		CreatedAt:   timeString(l.CreatedAt),
		LastCheckIn: optionalTime(l.LastCheckIn),
		Status:      status,
		RemovedAt:   optionalTime(l.RemovedAt),
	}
}

// Backup is a Backup.
type Backup struct {
	ID           string     `json:"id"`
	LicenseID    string     `json:"licenseID"`
	ResellerID   string     `json:"resellerID"`
	SizeGB       int        `json:"sizeGB"`
	Datacenter   Datacenter `json:"datacenter"`
	MonthlyPrice string     `json:"monthlyPrice"`
	CreatedAt    string     `json:"createdAt"`
	RemovedAt    *string    `json:"removedAt"`
}

// Datacenter is where a backup is stored.
type Datacenter struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// ObjectID implements Object.
func (b Backup) ObjectID() string { return b.ID }

// BackupOf shows a backup stored in dc, priced at perGB a GB-month.
func BackupOf(b *ent.Backup, dc *ent.Datacenter, perGB money.Cents) Backup {
	return Backup{
		ID:           b.ID,
		LicenseID:    b.LicenseID,
		ResellerID:   b.ResellerID,
		SizeGB:       b.SizeGB,
		Datacenter:   Datacenter{Code: dc.Code, Name: dc.Name},
		MonthlyPrice: (perGB * money.Cents(b.SizeGB)).String(),
		CreatedAt:    timeString(b.CreatedAt),
		RemovedAt:    optionalTime(b.RemovedAt),
	}
}

// ServerAccount is a ServerAccount.
type ServerAccount struct {
	ID           string  `json:"id"`
	Login        string  `json:"login"`
	FirstName    string  `json:"firstName"`
	LastName     string  `json:"lastName"`
	Company      string  `json:"company"`
	Email        string  `json:"email"`
	LicenseLimit int     `json:"licenseLimit"`
	UsedLicenses int     `json:"usedLicenses"`
	ResellerID   string  `json:"resellerID"`
	CreatedAt    string  `json:"createdAt"`
	RemovedAt    *string `json:"removedAt"`
}

// ObjectID implements Object.
func (a ServerAccount) ObjectID() string { return a.ID }

// ServerAccountOf shows a server account.
func ServerAccountOf(a *ent.ServerAccount) ServerAccount {
	return ServerAccount{
		ID:           a.ID,
		Login:        a.Login,
		FirstName:    a.FirstName,
		LastName:     a.LastName,
		Company:      a.Company,
		Email:        a.Email,
		LicenseLimit: a.LicenseLimit,
		UsedLicenses: a.UsedLicenses,
		ResellerID:   a.ResellerID,
		CreatedAt:    timeString(a.CreatedAt),
		RemovedAt:    optionalTime(a.RemovedAt),
	}
}

// Server is a Server registered to a server account.
type Server struct {
	ID              string  `json:"id"`
	Hostname        string  `json:"hostname"`
	IP              string  `json:"ip"`
	RegisteredAt    string  `json:"registeredAt"`
	LastCheckIn     *string `json:"lastCheckIn"`
	ServerAccountID string  `json:"serverAccountID"`
	ActivationKeyID *string `json:"activationKeyID"`
	ResellerID      string  `json:"resellerID"`
}

// ObjectID implements Object.
func (s Server) ObjectID() string { return s.ID }

// ServerOf shows a server; never its credential.
func ServerOf(s *ent.Server) Server {
	return Server{
		ID:              s.ID,
		Hostname:        s.Hostname,
		IP:              s.IP,
		RegisteredAt:    timeString(s.RegisteredAt),
		LastCheckIn:     optionalTime(s.LastCheckIn),
		ServerAccountID: s.ServerAccountID,
		ActivationKeyID: s.ActivationKeyID,
		ResellerID:      s.ResellerID,
	}
}

// Invoice is an Invoice: a monthly bill, a receipt or a refund. Its lines
// and its PDF link (signed for minutes only) are read through node(id:).
type Invoice struct {
	ID          string  `json:"id"`
	Number      string  `json:"number"`
	Type        string  `json:"type"`
	PeriodStart *string `json:"periodStart"`
	PeriodEnd   *string `json:"periodEnd"`
	Total       string  `json:"total"`
	Balance     string  `json:"balance"`
	ResellerID  string  `json:"resellerID"`
	CreatedAt   string  `json:"createdAt"`
}

// ObjectID implements Object.
func (i Invoice) ObjectID() string { return i.ID }

// InvoiceOf shows an invoice.
func InvoiceOf(i *ent.Invoice) Invoice {
	return Invoice{
		ID:          i.ID,
		Number:      i.Number,
		Type:        string(i.Type),
		PeriodStart: optionalTime(i.PeriodStart),
		PeriodEnd:   optionalTime(i.PeriodEnd),
		Total:       i.Total.String(),
		Balance:     i.Balance.String(),
		ResellerID:  i.ResellerID,
		CreatedAt:   timeString(i.CreatedAt),
	}
}

// Payment is a PaymentAttempt that takes money (payment.succeeded,
// payment.failed).
type Payment struct {
	ID            string  `json:"id"`
	Purpose       string  `json:"purpose"`
	Amount        string  `json:"amount"`
	Status        string  `json:"status"`
	Reason        string  `json:"reason"`
	DeclineCode   string  `json:"declineCode"`
	Gateway       string  `json:"gateway"`
	MethodLabel   string  `json:"methodLabel"`
	GatewayRef    string  `json:"gatewayRef"`
	TransactionID *string `json:"transactionID"`
	ResellerID    string  `json:"resellerID"`
	CreatedAt     string  `json:"createdAt"`
	SettledAt     *string `json:"settledAt"`
}

// ObjectID implements Object.
func (p Payment) ObjectID() string { return p.ID }

// PaymentOf shows a payment attempt.
func PaymentOf(a *ent.PaymentAttempt) Payment {
	return Payment{
		ID:            a.ID,
		Purpose:       string(a.Purpose),
		Amount:        a.Amount.String(),
		Status:        string(a.Status),
		Reason:        a.Reason,
		DeclineCode:   a.DeclineCode,
		Gateway:       a.Gateway,
		MethodLabel:   a.MethodLabel,
		GatewayRef:    a.GatewayRef,
		TransactionID: a.TransactionID,
		ResellerID:    a.ResellerID,
		CreatedAt:     timeString(a.CreatedAt),
		SettledAt:     optionalTime(a.SettledAt),
	}
}

// Refund is money given back: the REFUND PaymentAttempt, with the REFUND
// transaction and invoice that recorded it (refund.created).
type Refund struct {
	ID            string  `json:"id"`
	Amount        string  `json:"amount"`
	Status        string  `json:"status"`
	Reason        string  `json:"reason"`
	Gateway       string  `json:"gateway"`
	MethodLabel   string  `json:"methodLabel"`
	GatewayRef    string  `json:"gatewayRef"`
	RefundOfID    *string `json:"refundOfID"`
	TransactionID *string `json:"transactionID"`
	InvoiceID     *string `json:"invoiceID"`
	ResellerID    string  `json:"resellerID"`
	CreatedAt     string  `json:"createdAt"`
	SettledAt     *string `json:"settledAt"`
}

// ObjectID implements Object.
func (r Refund) ObjectID() string { return r.ID }

// RefundOf shows a refund attempt and, once recorded, its transaction.
func RefundOf(a *ent.PaymentAttempt, txn *ent.Transaction) Refund {
	r := Refund{
		ID:            a.ID,
		Amount:        a.Amount.String(),
		Status:        string(a.Status),
		Reason:        a.Reason,
		Gateway:       a.Gateway,
		MethodLabel:   a.MethodLabel,
		GatewayRef:    a.GatewayRef,
		RefundOfID:    a.RefundOfID,
		TransactionID: a.TransactionID,
		ResellerID:    a.ResellerID,
		CreatedAt:     timeString(a.CreatedAt),
		SettledAt:     optionalTime(a.SettledAt),
	}
	if txn != nil {
		r.TransactionID = &txn.ID
		r.InvoiceID = txn.InvoiceID
	}
	return r
}

// Reseller is a Reseller's account standing (balance.low,
// reseller.past_due): never its password or payment details.
type Reseller struct {
	ID           string      `json:"id"`
	Login        string      `json:"login"`
	Company      string      `json:"company"`
	BillingEmail string      `json:"billingEmail"`
	Balance      string      `json:"balance"`
	Status       string      `json:"status"`
	Autopayment  Autopayment `json:"autopayment"`
	CreatedAt    string      `json:"createdAt"`
}

// Autopayment is a reseller's autopayment setting, with the amounts that
// apply to its mode (as graph/autopayment.go shows it).
type Autopayment struct {
	Mode          string  `json:"mode"`
	Threshold     *string `json:"threshold"`
	TargetAmount  *string `json:"targetAmount"`
	MinimumCharge *string `json:"minimumCharge"`
}

// ObjectID implements Object.
func (r Reseller) ObjectID() string { return r.ID }

// ResellerOf shows a reseller's standing.
func ResellerOf(r *ent.Reseller) Reseller {
	a := Autopayment{Mode: string(r.AutopayMode)}
	switch r.AutopayMode {
	case reseller.AutopayModeAUTO_ADD_FUNDS:
		a.Threshold = optionalMoney(&autopay.AddFundsThreshold)
		a.TargetAmount = optionalMoney(r.AutopayTarget)
	case reseller.AutopayModeAUTO_REPAY:
		a.MinimumCharge = optionalMoney(&autopay.MinimumRepay)
	}
	return Reseller{
		ID:           r.ID,
		Login:        r.Login,
		Company:      r.Company,
		BillingEmail: r.BillingEmail,
		Balance:      r.Balance.String(),
		Status:       string(r.Status),
		Autopayment:  a,
		CreatedAt:    timeString(r.CreatedAt),
	}
}

// WebhookEndpoint is a WebhookEndpoint (webhook_endpoint.disabled); never
// its secrets.
type WebhookEndpoint struct {
	ID                      string   `json:"id"`
	URL                     string   `json:"url"`
	Description             string   `json:"description"`
	Events                  []string `json:"events"`
	Enabled                 bool     `json:"enabled"`
	DisabledReason          string   `json:"disabledReason"`
	PreviousSecretExpiresAt *string  `json:"previousSecretExpiresAt"`
	FailingSince            *string  `json:"failingSince"`
	// ResellerID is empty for an operator's global endpoint.
	ResellerID string `json:"resellerID"`
	CreatedAt  string `json:"createdAt"`
}

// ObjectID implements Object.
func (w WebhookEndpoint) ObjectID() string { return w.ID }

// WebhookEndpointOf shows an endpoint.
func WebhookEndpointOf(w *ent.WebhookEndpoint) WebhookEndpoint {
	events := w.Events
	if events == nil {
		events = []string{}
	}
	return WebhookEndpoint{
		ID:                      w.ID,
		URL:                     w.URL,
		Description:             w.Description,
		Events:                  events,
		Enabled:                 w.Enabled,
		DisabledReason:          w.DisabledReason,
		PreviousSecretExpiresAt: optionalTime(w.PreviousSecretExpiresAt),
		FailingSince:            optionalTime(w.FailingSince),
		ResellerID:              w.ResellerID,
		CreatedAt:               timeString(w.CreatedAt),
	}
}

// timeString writes a time as the Time scalar does (graph/scalar/time.go).
func timeString(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optionalTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeString(*t)
	return &s
}

func optionalMoney(c *money.Cents) *string {
	if c == nil {
		return nil
	}
	s := c.String()
	return &s
}
