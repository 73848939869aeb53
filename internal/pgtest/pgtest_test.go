package pgtest_test

import (
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"clnd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("ping %s: %v", dsn, err)
	}
	return db
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func dbExists(t *testing.T, admin *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestIsolationAndCleanup(t *testing.T) {
	admin := open(t, pgtest.AdminDSN(t))

	var names [2]string
	t.Run("isolated", func(t *testing.T) {
		dsnA, dsnB := pgtest.DSN(t), pgtest.DSN(t)
		if !strings.HasPrefix(dsnA, "postgres://") {
			t.Errorf("DSN %q is not a postgres:// URL", dsnA)
		}
		names = [2]string{dbName(t, dsnA), dbName(t, dsnB)}
		if names[0] == names[1] {
			t.Fatalf("both DSNs name database %q", names[0])
		}
		for _, n := range names {
			if n != strings.ToLower(n) {
				t.Errorf("database name %q is not lowercase", n)
			}
			if !dbExists(t, admin, n) {
				t.Errorf("database %q not in pg_database", n)
			}
		}

		a, b := open(t, dsnA), open(t, dsnB)
		var cur string
		if err := a.QueryRow(`SELECT current_database()`).Scan(&cur); err != nil || cur != names[0] {
			t.Fatalf("current_database() = %q, %v; want %q", cur, err, names[0])
		}
		if _, err := a.Exec(`CREATE TABLE widgets (id int PRIMARY KEY); INSERT INTO widgets VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := a.QueryRow(`SELECT count(*) FROM widgets`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("count in A = %d, %v", n, err)
		}
		var reg sql.NullString
		if err := b.QueryRow(`SELECT to_regclass('widgets')::text`).Scan(&reg); err != nil {
			t.Fatal(err)
		}
		if reg.Valid {
			t.Errorf("database B sees table %q created in A", reg.String)
		}
		// B is brand new and empty: no user tables at all.
		if err := b.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil || n != 0 {
			t.Errorf("user tables in B = %d, %v; want 0", n, err)
		}
		// Leave a connection open on A (a and b are closed by cleanups
		// registered after DSN, so they run first; this one is not) to
		// check that the drop uses WITH (FORCE).
		leak, err := sql.Open("postgres", dsnA)
		if err != nil {
			t.Fatal(err)
		}
		if err := leak.Ping(); err != nil {
			t.Fatal(err)
		}
	})

	for _, n := range names {
		if n != "" && dbExists(t, admin, n) {
			t.Errorf("database %q still exists after the subtest's cleanup", n)
		}
	}
}

func TestParallel(t *testing.T) {
	for i := 0; i < 8; i++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			db := open(t, pgtest.DSN(t))
			if _, err := db.Exec(`CREATE TABLE t (x int)`); err != nil {
				t.Fatal(err)
			}
		})
	}
}
