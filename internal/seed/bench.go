package seed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"clnd/ent"
	"clnd/ent/product"
	"clnd/ent/transaction"
	"clnd/internal/auth"
	"clnd/internal/billing"
	"clnd/internal/catalog"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/pricelist"
	"clnd/internal/progress"
	"clnd/internal/viewer"
)

// BenchSize is the benchmark data set's size (docs/performance.md).
type BenchSize struct {
	Resellers, Licenses, Accounts, Servers, Months int
}

// BenchAt scales the benchmark data set, which at scale 1 is 1,000 resellers,
// 100,000 IP licenses, 5,000 server accounts with 50,000 servers, and 12 months.
func BenchAt(scale float64) BenchSize {
	n := func(v int) int { return max(1, int(float64(v)*scale)) }
	return BenchSize{Resellers: n(1000), Licenses: n(100_000), Accounts: n(5000), Servers: n(50_000), Months: 12}
}

// Report is where Bench tells what it does: Out gets a line per stage,
// Progress (a terminal, typically) a line a second with an ETA, Log the
// cause of each failure.
type Report struct {
	Out, Progress io.Writer
	Log           *slog.Logger
}

// Bench fills an empty database with the benchmark data set, dated so that
// Months whole months have ended, and bills all but the last of them (the
// last is left for `clnd bill` to measure). It reports to w, failures included.
func Bench(ctx context.Context, client *ent.Client, size BenchSize, w io.Writer) error {
	return BenchTo(ctx, client, size, Report{Out: w, Log: slog.New(slog.NewTextHandler(w, nil))})
}

// BenchTo is Bench reporting to r.
func BenchTo(ctx context.Context, client *ent.Client, size BenchSize, r Report) error {
	w := r.Out
	ctx = viewer.SystemContext(ctx)
	// No scheduler bills while the data set is half written (billing.Hold);
	// the hold is renewed at each stage and month, and released at the end,
	// even an interrupted one.
	hold := func() error { return billing.Hold(ctx, client, "clnd seed --bench") }
	if err := hold(); err != nil {
		return err
	}
	defer func() { _ = billing.Release(context.WithoutCancel(ctx), client) }()
	if err := pricelist.EnsureCatalogue(ctx, client); err != nil {
		return err
	}
	now := clock.Now(ctx)
	start := billing.Month(now).Start.AddDate(0, -size.Months, 0)
	products, err := client.Product.Query().Order(product.ByClnTypeCode()).All(ctx)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword("bench-password")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2)) // the same data set every time
	resellerIDs := make([]string, size.Resellers)
	// Every reseller opens with a credit posted through the ledger, dated
	// when its history starts, so balance = Σ transactions holds here too.
	opening := clock.NewContext(ctx, clock.NewFrozen(start))
	err = inBatches(ctx, client, hold, r.meter("resellers", size.Resellers), func(tx *ent.Tx, from, to int) error {
		bulk := make([]*ent.ResellerCreate, 0, to-from)
		for i := from; i < to; i++ {
			resellerIDs[i] = ids.New("rsl")
			bulk = append(bulk, tx.Reseller.Create().SetID(resellerIDs[i]).
				SetLogin(fmt.Sprintf("bench%05d", i)).SetPasswordHash(hash).
				SetCompany(fmt.Sprintf("Bench Hosting %d", i)).SetBillingEmail(fmt.Sprintf("bench%05d@example.com", i)).
				SetAutopayMode("NONE").SetCreatedAt(start))
		}
		if err := tx.Reseller.CreateBulk(bulk...).Exec(ctx); err != nil {
			return err
		}
		for _, id := range resellerIDs[from:to] {
			if _, err := ledger.Post(opening, tx, ledger.Entry{
				ResellerID: id, Kind: transaction.KindADJUSTMENT, Amount: openingBalance,
				Description: "Opening balance of the benchmark data set",
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "resellers: %d\n", size.Resellers)

	err = inBatches(ctx, client, hold, r.meter("IP licenses", size.Licenses), func(tx *ent.Tx, from, to int) error {
		licenses := make([]*ent.IPLicenseCreate, 0, to-from)
		runs := make([]*ent.BillableRunCreate, 0, to-from)
		for i := from; i < to; i++ {
			p := products[i%len(products)]
			entry, _ := catalog.Lookup(p.Type)
			rid := resellerIDs[i%len(resellerIDs)]
			id := ids.New("ipl")
			ip := fmt.Sprintf("%d.%d.%d.%d", 11+i/(250*250*250)%200, i/(250*250)%250+1, i/250%250+1, i%250+1)
			added := start.Add(time.Duration(rng.Int64N(int64(time.Duration(size.Months) * 30 * 24 * time.Hour))))
			licenses = append(licenses, tx.IPLicense.Create().SetID(id).SetResellerID(rid).SetIP(ip).
				SetType(p.Type).SetFamily(entry.Family).SetProductID(p.ID).
				SetHostname(fmt.Sprintf("host%06d.bench.example", i)).SetCreatedAt(added))
			runs = append(runs, tx.BillableRun.Create().SetResellerID(rid).SetKind("IP_LICENSE").SetSubjectID(id).
				SetProductID(p.ID).SetDescription(p.Name+" for "+ip).SetQuantity(1).SetUnitPrice(p.MonthlyPrice).SetStartedAt(added))
		}
		if err := tx.IPLicense.CreateBulk(licenses...).Exec(ctx); err != nil {
			return err
		}
		return tx.BillableRun.CreateBulk(runs...).Exec(ctx)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "IP licenses: %d\n", size.Licenses)

	osPrice := products[0]
	accountIDs := make([]string, size.Accounts)
	perAccount := max(1, size.Servers/size.Accounts)
	err = inBatches(ctx, client, hold, r.meter("server accounts", size.Accounts), func(tx *ent.Tx, from, to int) error {
		accounts := make([]*ent.ServerAccountCreate, 0, to-from)
		runs := make([]*ent.BillableRunCreate, 0, to-from)
		for i := from; i < to; i++ {
			accountIDs[i] = ids.New("sac")
			rid := resellerIDs[i%len(resellerIDs)]
			login := fmt.Sprintf("bench-acct%05d", i)
			accounts = append(accounts, tx.ServerAccount.Create().SetID(accountIDs[i]).SetResellerID(rid).SetLogin(login).
				SetLicenseLimit(perAccount+2).SetUsedLicenses(perAccount).SetCreatedAt(start))
			runs = append(runs, tx.BillableRun.Create().SetResellerID(rid).SetKind("SERVER_ACCOUNT").SetSubjectID(accountIDs[i]).
				SetProductID(osPrice.ID).SetDescription(fmt.Sprintf("Server account %s, limit %d", login, perAccount+2)).
				SetQuantity(perAccount+2).SetUnitPrice(osPrice.MonthlyPrice).SetStartedAt(start))
		}
		if err := tx.ServerAccount.CreateBulk(accounts...).Exec(ctx); err != nil {
			return err
		}
		return tx.BillableRun.CreateBulk(runs...).Exec(ctx)
	})
	if err != nil {
		return err
	}
	err = inBatches(ctx, client, hold, r.meter("servers", size.Servers), func(tx *ent.Tx, from, to int) error {
		servers := make([]*ent.ServerCreate, 0, to-from)
		for i := from; i < to; i++ {
			acct := accountIDs[(i/perAccount)%len(accountIDs)]
			_, hash := auth.NewSecret(auth.CredentialPrefix)
			servers = append(servers, tx.Server.Create().SetResellerID(resellerIDs[((i/perAccount)%len(accountIDs))%len(resellerIDs)]).
				SetServerAccountID(acct).SetHostname(fmt.Sprintf("node%06d.bench.example", i)).
				SetIP(fmt.Sprintf("100.%d.%d.%d", i/(250*250)%250, i/250%250, i%250)).SetRegisteredAt(start).SetCredentialHash(hash))
		}
		return tx.Server.CreateBulk(servers...).Exec(ctx)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "server accounts: %d with %d servers\n", size.Accounts, size.Servers)

	months := 0
	for p := billing.Month(start); p.End.Before(billing.Month(now).Start); p = billing.Month(p.End) {
		months++
	}
	billed := r.meter("reseller-months", months*size.Resellers)
	month := 0
	for p := billing.Month(start); p.End.Before(billing.Month(now).Start); p = billing.Month(p.End) {
		began := clock.Wall()
		if err := hold(); err != nil {
			return err
		}
		billed.What = "seed: billing " + p.String()
		invoices, err := billing.BillPeriodReporting(ctx, client, p, nil, r.Log, func(done, total int) {
			billed.Update(month*size.Resellers + done)
		})
		if err != nil {
			return err
		}
		month++
		fmt.Fprintf(w, "billed %s: %d invoices in %s\n", p, len(invoices), clock.Wall().Sub(began).Round(time.Millisecond))
	}
	return nil
}

// batchSize rows per statement keep parameters under both drivers' limits.
const batchSize = 500

// openingBalance is every bench reseller's credit before its first invoice.
var openingBalance = money.MustParse("100000.00")

// meter shows a stage's progress on r.Progress, if any.
func (r Report) meter(unit string, total int) *progress.Meter {
	return progress.New(r.Progress, "seed: inserting", unit, total)
}

// inBatches runs fn over m.Total rows, batchSize at a time, each batch in a
// transaction of its own, and after each renews the billing hold and tells m.
func inBatches(ctx context.Context, client *ent.Client, hold func() error, m *progress.Meter, fn func(tx *ent.Tx, from, to int) error) error {
	n := m.Total
	for from := 0; from < n; from += batchSize {
		tx, err := client.Tx(ctx)
		if err != nil {
			return err
		}
		if err := fn(tx, from, min(from+batchSize, n)); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if err := hold(); err != nil {
			return err
		}
		m.Update(min(from+batchSize, n))
	}
	return nil
}
