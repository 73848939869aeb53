package pricelist_test

import (
	"testing"
	"time"

	"clnd/ent/billablerun"
	"clnd/internal/apitest"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
	"clnd/internal/money"
	"clnd/internal/pgtest"
	"clnd/internal/pricelist"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A license added while a price change is in flight is billed at the new
// price: the change waits for the add, or the add for the change, never
// both reading the old price.
func TestLicenseAddedDuringPriceChangeGetsTheNewPrice(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		ctx := viewer.SystemContext(e.Ctx())
		priceTx, err := e.DB.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pricelist.SetProductPrice(ctx, priceTx, catalog.CloudLinuxOS, money.MustParse("99.00")); err != nil {
			t.Fatal(err)
		}
		added := make(chan error, 1)
		go func() {
			tx, err := e.DB.Client.Tx(ctx) // waits for priceTx on SQLite (BEGIN IMMEDIATE)
			if err != nil {
				added <- err
				return
			}
			_, err = licensing.CreateIPLicense(ctx, tx, licensing.NewIPLicense{
				ResellerID: r.ID, IP: "203.0.113.77", Type: catalog.CloudLinuxOS, AddedAt: apitest.Start, Sandbox: true})
			if err != nil {
				_ = tx.Rollback()
				added <- err
				return
			}
			added <- tx.Commit()
		}()
		time.Sleep(200 * time.Millisecond) // let the add reach its read of the price
		if err := priceTx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-added; err != nil {
			t.Fatal(err)
		}
		runs, err := e.DB.Client.BillableRun.Query().Where(billablerun.EndedAtIsNil()).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].UnitPrice != money.MustParse("99.00") {
			t.Fatalf("open runs %+v: want one at 99.00", runs)
		}
	})
}

// A license removed while a price change is in flight stays removed: the
// price change does not continue its closed run.
func TestPriceChangeDoesNotRevivePendingRemoval(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		lic := e.AddLicense(r.Token, "203.0.113.78", "CLOUDLINUX_OS", "")
		ctx := viewer.SystemContext(e.Ctx())
		removeTx, err := e.DB.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := licensing.RemoveIPLicenses(ctx, removeTx, []string{lic}); err != nil {
			t.Fatal(err)
		}
		repriced := make(chan error, 1)
		go func() {
			tx, err := e.DB.Client.Tx(ctx)
			if err != nil {
				repriced <- err
				return
			}
			if _, err := pricelist.SetProductPrice(ctx, tx, catalog.CloudLinuxOS, money.MustParse("50.00")); err != nil {
				_ = tx.Rollback()
				repriced <- err
				return
			}
			repriced <- tx.Commit()
		}()
		time.Sleep(200 * time.Millisecond) // let the price change reach the runs
		if err := removeTx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-repriced; err != nil {
			t.Fatal(err)
		}
		open, err := e.DB.Client.BillableRun.Query().Where(billablerun.SubjectID(lic), billablerun.EndedAtIsNil()).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if open != 0 {
			t.Fatalf("the removed license has %d open billable runs", open)
		}
	})
}
