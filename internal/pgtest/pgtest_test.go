package pgtest_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// The server is a private one in a temporary directory, never a system
// cluster (whose configuration tests must not touch).
func TestPrivateServer(t *testing.T) {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		t.Skip("TEST_DATABASE_URL names the server")
	}
	admin := open(t, pgtest.AdminDSN(t))
	var dataDir, hba string
	if err := admin.QueryRow(`SELECT current_setting('data_directory'), current_setting('hba_file')`).Scan(&dataDir, &hba); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pgtest.AdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	socketDir := u.Query().Get("host")
	if !strings.Contains(filepath.Base(socketDir), "clnd-pgtest-") {
		t.Errorf("socket directory %q is not a pgtest temporary directory", socketDir)
	}
	for _, p := range []string{dataDir, hba} {
		if !strings.HasPrefix(p, socketDir+"/") {
			t.Errorf("%q is outside the private directory %q", p, socketDir)
		}
	}
	var superuser string
	if err := admin.QueryRow(`SELECT current_setting('is_superuser')`).Scan(&superuser); err != nil || superuser != "on" {
		t.Errorf("admin connection is_superuser = %q, %v", superuser, err)
	}
}

// A test binary that exits without pgtest.Main (os.Exit, a crash) still
// leaves no server and no directory behind: the watchdog removes them.
func TestWatchdogStopsServerOfDeadProcess(t *testing.T) {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		t.Skip("no private server with TEST_DATABASE_URL")
	}
	if os.Getenv("PGTEST_WATCHDOG_CHILD") == "1" {
		u, err := url.Parse(pgtest.AdminDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		dir := u.Query().Get("host")
		pid, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(pid), "\n")
		fmt.Printf("SOCKETDIR=%s\nPOSTMASTER=%s\n", dir, first)
		os.Exit(0) // skip Main's cleanup, as a crash would
	}
	if !pgtest.Available() {
		t.Skip("no PostgreSQL")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdogStopsServerOfDeadProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_WATCHDOG_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir string
	pid := -1
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "SOCKETDIR="); ok {
			dir = v
		}
		if v, ok := strings.CutPrefix(line, "POSTMASTER="); ok {
			pid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if dir == "" || pid <= 0 {
		t.Fatalf("child printed no socket directory or postmaster pid: %s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, statErr := os.Stat(dir)
		gone := errors.Is(statErr, os.ErrNotExist)
		alive := syscall.Kill(pid, 0) == nil && !isZombie(pid)
		if gone && !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after its test process exited: directory %s gone=%v, postmaster %d alive=%v", dir, gone, pid, alive)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isZombie: an exited postmaster waiting for init to reap it counts as gone.
func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z")
}
