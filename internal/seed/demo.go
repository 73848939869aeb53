// Package seed fills a database with demo data for `make run`, demos and
// partner integration testing.
package seed

import (
	"context"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/invoice"
	"clnd/ent/paymentmethod"
	"clnd/ent/reseller"
	"clnd/ent/transaction"
	"clnd/internal/auth"
	"clnd/internal/billing"
	"clnd/internal/catalog"
	"clnd/internal/clock"
	"clnd/internal/ledger"
	"clnd/internal/licensing"
	"clnd/internal/money"
	"clnd/internal/pricelist"
	"clnd/internal/serveraccounts"
	"clnd/internal/viewer"
)

// The demo reseller's login. The password is a demo value printed at start-up.
const (
	DemoLogin    = "demo"
	DemoPassword = "demo-password"
)

// Demo creates the demo reseller with IP licenses, backups, server accounts
// with servers, and the invoices of the months that have ended since its
// licenses were added. It does nothing when the demo reseller exists, so
// every start may call it. It reports whether it created anything.
func Demo(ctx context.Context, client *ent.Client) (bool, error) {
	ctx = viewer.SystemContext(ctx)
	if err := pricelist.EnsureCatalogue(ctx, client); err != nil {
		return false, err
	}
	exists, err := client.Reseller.Query().Where(reseller.Login(DemoLogin)).Exist(ctx)
	if err != nil || exists {
		return false, err
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return false, err
	}
	if err := demo(ctx, tx); err != nil {
		_ = tx.Rollback()
		return false, fmt.Errorf("seeding demo data: %w", err)
	}
	return true, tx.Commit()
}

func demo(ctx context.Context, tx *ent.Tx) error {
	now := clock.Now(ctx)
	thisMonth := billing.Month(now)
	// The story starts on the 11th two months ago, so that two whole months
	// have ended and been invoiced.
	start := thisMonth.Start.AddDate(0, -2, 10)

	hash, err := auth.HashPassword(DemoPassword)
	if err != nil {
		return err
	}
	r, err := tx.Reseller.Create().
		SetLogin(DemoLogin).
		SetPasswordHash(hash).
		SetCompany("Demo Hosting Ltd").
		SetFirstName("Dana").
		SetLastName("Demo").
		SetBillingEmail("billing@demo-hosting.example").
		SetCreatedAt(start).
		Save(ctx)
	if err != nil {
		return err
	}
	if err := tx.PaymentMethod.Create().
		SetResellerID(r.ID).
		SetKind(paymentmethod.KindCARD).
		SetLabel("Visa •••• 4242").
		SetIsDefault(true).
		SetGateway("sandbox").
		SetGatewayRef("tok_visa").
		SetCreatedAt(start).
		Exec(ctx); err != nil {
		return err
	}
	deposit := money.MustParse("1000.00")
	number, err := billing.NextInvoiceNumber(ctx, tx, start)
	if err != nil {
		return err
	}
	receipt, err := tx.Invoice.Create().
		SetResellerID(r.ID).
		SetNumber(number).
		SetType(invoice.TypePAYMENT_RECEIVED).
		SetTotal(deposit).
		SetBalance(deposit).
		SetCreatedAt(start).
		Save(ctx)
	if err != nil {
		return err
	}
	if _, err := ledger.Post(ctx, tx, ledger.Entry{
		ResellerID: r.ID, Kind: transaction.KindDEPOSIT, Amount: deposit,
		Description: "Initial deposit (Visa •••• 4242)", InvoiceID: &receipt.ID,
	}); err != nil {
		return err
	}

	licenses := []struct {
		ip, host  string
		typ       catalog.LicenseType
		addedDays int
		checkIn   *time.Duration // before now; nil: never checked in
		backupGB  int
	}{
		{"203.0.113.10", "web01.demo-hosting.example", catalog.CloudLinuxOS, 0, ago(10 * time.Minute), 50},
		{"203.0.113.10", "web01.demo-hosting.example", catalog.Imunify360UpTo30Users, 0, ago(10 * time.Minute), 0},
		{"203.0.113.11", "web02.demo-hosting.example", catalog.CloudLinuxOS, 5, ago(2 * time.Hour), 0},
		{"203.0.113.11", "web02.demo-hosting.example", catalog.KernelCare, 5, ago(2 * time.Hour), 0},
		{"203.0.113.12", "mail.demo-hosting.example", catalog.ImunifyAVPlus, 20, ago(5 * 24 * time.Hour), 0},
		{"198.51.100.20", "vps20.customer.example", catalog.CloudLinuxSolo, 30, nil, 0},
		{"198.51.100.21", "vps21.customer.example", catalog.KernelCarePlus, 40, ago(30 * time.Minute), 20},
		{"2001:db8:10::5", "v6.demo-hosting.example", catalog.Imunify360SingleUser, 50, ago(1 * time.Hour), 0},
	}
	for _, l := range licenses {
		added := start.AddDate(0, 0, l.addedDays)
		lic, err := licensing.CreateIPLicense(ctx, tx, licensing.NewIPLicense{
			ResellerID: r.ID, IP: l.ip, Type: l.typ, Hostname: l.host, AddedAt: added,
			Sandbox: true, // the demo's addresses are documentation ranges
		})
		if err != nil {
			return fmt.Errorf("license %s %s: %w", l.ip, l.typ, err)
		}
		if l.checkIn != nil {
			if err := tx.IPLicense.UpdateOne(lic).SetLastCheckIn(now.Add(-*l.checkIn)).Exec(ctx); err != nil {
				return err
			}
		}
		if l.backupGB > 0 {
			if _, err := licensing.CreateBackup(ctx, tx, lic, l.backupGB, "eu-central", added.AddDate(0, 0, 3)); err != nil {
				return err
			}
		}
	}

	accounts := []struct {
		login, company string
		limit, servers int
	}{
		{"acme-hosting", "Acme Hosting", 3, 2},
		{"blue-vps", "Blue VPS", 2, 1},
	}
	for i, a := range accounts {
		added := start.AddDate(0, 0, 12+i*9)
		acct, err := serveraccounts.Create(ctx, tx, serveraccounts.NewAccount{
			ResellerID: r.ID, Login: a.login, Company: a.company, FirstName: "Sam", LastName: "Admin",
			Email: "admin@" + a.login + ".example", LicenseLimit: a.limit, At: added,
		})
		if err != nil {
			return err
		}
		key, err := serveraccounts.CreateKey(ctx, tx, acct, added)
		if err != nil {
			return err
		}
		for s := 0; s < a.servers; s++ {
			host := fmt.Sprintf("node%d.%s.example", s+1, a.login)
			ip := fmt.Sprintf("198.51.100.%d", 100+i*10+s)
			if _, _, err := serveraccounts.Register(ctx, tx, serveraccounts.NewServer{
				KeyToken: key.Token, Hostname: host, IP: ip, Sandbox: true, At: added.Add(time.Hour),
			}); err != nil {
				return err
			}
		}
	}

	for p := billing.Month(start); p.End.Before(now) || p.End.Equal(now); p = billing.Month(p.End) {
		if _, err := billing.InvoiceReseller(ctx, tx, r.ID, p, p.End); err != nil {
			return fmt.Errorf("invoicing %s: %w", p, err)
		}
	}
	return nil
}

func ago(d time.Duration) *time.Duration { return &d }
