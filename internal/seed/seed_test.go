package seed_test

import (
	"io"
	"testing"

	"clnd/ent/invoice"
	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/seed"
	"clnd/internal/viewer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestBenchDataSet(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		size := seed.BenchAt(0.005) // 5 resellers, 500 licenses, 25 accounts, 250 servers
		if err := seed.Bench(e.Ctx(), e.DB.Client, size, io.Discard); err != nil {
			t.Fatal(err)
		}
		ctx := viewer.SystemContext(e.Ctx())
		licenses, _ := e.DB.Client.IPLicense.Query().Count(ctx)
		servers, _ := e.DB.Client.Server.Query().Count(ctx)
		invoices, _ := e.DB.Client.Invoice.Query().Where(invoice.TypeEQ(invoice.TypeINVOICE)).Count(ctx)
		if licenses != size.Licenses || servers != size.Servers {
			t.Fatalf("%d licenses, %d servers; want %d, %d", licenses, servers, size.Licenses, size.Servers)
		}
		// Every month but the last one that ended is billed, one invoice per reseller.
		if want := size.Resellers * (size.Months - 1); invoices != want {
			t.Fatalf("%d invoices, want %d", invoices, want)
		}
	})
}
