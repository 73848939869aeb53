package store_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/lib/pq"

	"clnd/internal/pgtest"
	"clnd/internal/store"
)

// 0004_removed_rows converts the rows that exist: every license, backup
// and server account is live, and a backup's license is its live license,
// so the license still shows it and cannot get a second one.
func TestRemovedRowsMigrationKeepsExistingRowsLive(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("postgres", pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var later []store.Migration
	for _, m := range all {
		if m.Version >= "0004" {
			later = append(later, m)
			continue
		}
		if _, err := db.ExecContext(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Version, err)
		}
	}
	for _, q := range oldRows("now()") {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, m := range later {
		if _, err := db.ExecContext(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Version, err)
		}
	}
	checkOldRowsLive(t, db)
}

// On SQLite, ent's automatic migration adds the columns and store.Migrate
// fills live_license_id in (sqliteBackfills).
func TestRemovedRowsBackfillOnSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/clnd.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A backup as the schema before 0004 left it: no live license.
	for _, q := range oldRows("CURRENT_TIMESTAMP") {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkOldRowsLive(t, db.SQL)
}

func oldRows(now string) []string {
	return []string{
		`INSERT INTO resellers (id, created_at, login, password_hash, billing_email) VALUES ('rsl_1', ` + now + `, 'alice', 'x', 'a@example.com')`,
		`INSERT INTO products (id, type, name, family, cln_type_code, monthly_price) VALUES ('prd_1', 'KERNELCARE', 'KernelCare', 'KERNELCARE', 16, 300)`,
		`INSERT INTO datacenters (id, code, name) VALUES ('dcn_1', 'us-east', 'US East')`,
		`INSERT INTO ip_licenses (id, created_at, ip, type, family, product_id, reseller_id) VALUES ('ipl_1', ` + now + `, '203.0.113.1', 'KERNELCARE', 'KERNELCARE', 'prd_1', 'rsl_1')`,
		`INSERT INTO backups (id, created_at, size_gb, datacenter_id, license_id, reseller_id) VALUES ('bkp_1', ` + now + `, 10, 'dcn_1', 'ipl_1', 'rsl_1')`,
		`INSERT INTO server_accounts (id, created_at, login, license_limit, reseller_id) VALUES ('sac_1', ` + now + `, 'acme', 2, 'rsl_1')`,
	}
}

func checkOldRowsLive(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	var live string
	var removed int
	err := db.QueryRowContext(ctx, `SELECT (SELECT live_license_id FROM backups WHERE id = 'bkp_1'),
		(SELECT count(*) FROM ip_licenses WHERE removed_at IS NOT NULL) + (SELECT count(*) FROM backups WHERE removed_at IS NOT NULL) +
		(SELECT count(*) FROM server_accounts WHERE removed_at IS NOT NULL)`).Scan(&live, &removed)
	if err != nil {
		t.Fatal(err)
	}
	if live != "ipl_1" || removed != 0 {
		t.Fatalf("after 0004: backup's live license %q, %d removed rows", live, removed)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO backups (id, created_at, size_gb, datacenter_id, license_id, live_license_id, reseller_id)
		VALUES ('bkp_2', CURRENT_TIMESTAMP, 5, 'dcn_1', 'ipl_1', 'ipl_1', 'rsl_1')`); err == nil {
		t.Fatal("a license got a second live backup")
	}
}
