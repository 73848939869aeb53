// Package pgtest gives tests a fresh, empty PostgreSQL database each.
//
// Usage:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db, err := sql.Open("postgres", pgtest.DSN(t))
//		...
//	}
//
// Where the server comes from, in order:
//
//  1. TEST_DATABASE_URL, if set: an admin-capable postgres:// URL. Databases
//     are created through it. If it is set but unusable, tests fail (they
//     are not skipped).
//  2. Otherwise a server is started once per test binary:
//     - as root, with pg_ctlcluster available: the Debian cluster
//     "<version> main" (version 15 unless PGTEST_PG_VERSION says otherwise;
//     cluster name PGTEST_CLUSTER, default main) is created if missing, started if not running, and used over
//     /var/run/postgresql as database user postgres. The cluster is left
//     running. If the cluster uses peer authentication for "postgres" (the
//     Debian default), a pg_ident map letting OS user root connect as
//     postgres over the local socket is installed once (see ensureRootAuth).
//     - otherwise: initdb into a temporary directory (trust auth, unix socket
//     only, fsync off) and pg_ctl start. The server is stopped by Main
//     after m.Run, and, as a backstop, by a small watchdog process when the
//     test binary exits without Main having run.
//
// If no server can be had, tests calling DSN or AdminDSN are skipped with a
// loud message, or fail if CLND_REQUIRE_POSTGRES=1.
//
// PGTEST_DISABLE=1 simulates "no PostgreSQL available" (for testing the skip
// path). The package imports github.com/lib/pq, so the "postgres" driver is
// registered for any package that uses it.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver
)

const (
	envURL       = "TEST_DATABASE_URL"
	envRequire   = "CLND_REQUIRE_POSTGRES"
	envDisable   = "PGTEST_DISABLE"
	envPGVersion = "PGTEST_PG_VERSION"
	envCluster   = "PGTEST_CLUSTER"

	defaultPGVersion = "15"
	debianSocketDir  = "/var/run/postgresql"
	readyTimeout     = 30 * time.Second
	dbNamePrefix     = "clndtest_"
)

// server is the process-wide state, set up once.
type server struct {
	adminURL string  // URL of the maintenance database
	admin    *sql.DB // shared admin pool used for CREATE/DROP DATABASE
	source   string  // human-readable description of where the server came from
	fatal    bool    // setup failed in a way that must fail tests, not skip them

	// set only for a server this process started with initdb/pg_ctl
	pgCtl   string
	dataDir string
	tmpDir  string
}

var (
	once      sync.Once
	srv       *server
	setupErr  error
	skipShown atomic.Bool
	counter   atomic.Uint64
	stopOnce  sync.Once
	mainInUse atomic.Bool
)

func get() (*server, error) {
	once.Do(func() { srv, setupErr = setup() })
	return srv, setupErr
}

// Available reports whether a PostgreSQL server can be used, starting one
// if needed (same logic as DSN, but never skips or fails).
func Available() bool {
	_, err := get()
	return err == nil
}

// DSN returns a lib/pq connection URL (postgres://...) for a brand-new, empty
// database created just for t. The database is dropped (WITH (FORCE)) when t
// finishes. If PostgreSQL is unavailable, t is skipped (or fails, if
// CLND_REQUIRE_POSTGRES=1).
func DSN(t testing.TB) string {
	t.Helper()
	s := mustServer(t)

	name := newDBName()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	// template0: nobody can be connected to it, so concurrent CREATE DATABASE
	// from many test binaries never fails with "source database is being
	// accessed by other users" (which template1 is prone to).
	q := `CREATE DATABASE ` + quoteIdent(name) + ` TEMPLATE template0 ENCODING 'UTF8'`
	if _, err := s.admin.ExecContext(ctx, q); err != nil {
		if sqlState(err) != "22023" { // invalid_parameter_value: encoding vs locale mismatch
			t.Fatalf("pgtest: create database %s (%s): %v", name, s.source, err)
		}
		if _, err := s.admin.ExecContext(ctx, q+` LOCALE 'C'`); err != nil {
			t.Fatalf("pgtest: create database %s (%s): %v", name, s.source, err)
		}
	}
	// Record who owns the database, to make leftovers easy to attribute.
	_, _ = s.admin.ExecContext(ctx, `COMMENT ON DATABASE `+quoteIdent(name)+` IS `+quoteLiteral("pgtest: "+t.Name()))

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(name)+` WITH (FORCE)`); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(s.adminURL)
	if err != nil { // cannot happen: validated in setup
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// AdminDSN returns a lib/pq connection URL for the server's maintenance
// database ("postgres", or whatever TEST_DATABASE_URL names), with superuser
// (or at least CREATEDB) rights: for tests that need pg_terminate_backend,
// pg_database and the like. Do not drop or modify it.
func AdminDSN(t testing.TB) string {
	t.Helper()
	return mustServer(t).adminURL
}

// Main is meant to be called from a package's TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// It runs the tests, then stops a server this process started with
// initdb/pg_ctl (a system cluster started with pg_ctlcluster is left
// running), and exits with the tests' exit code.
func Main(m *testing.M) {
	mainInUse.Store(true)
	code := m.Run()
	stop()
	os.Exit(code)
}

func mustServer(t testing.TB) *server {
	t.Helper()
	s, err := get()
	if err == nil {
		return s
	}
	if os.Getenv(envRequire) == "1" || (s != nil && s.fatal) {
		t.Fatalf("pgtest: PostgreSQL required but not available: %v", err)
	}
	if skipShown.CompareAndSwap(false, true) {
		t.Skipf("pgtest: PostgreSQL not available (%v) — PostgreSQL tests SKIPPED; set %s or install postgresql (%s=1 turns this into a failure)", err, envURL, envRequire)
	}
	t.Skip("pgtest: PostgreSQL not available — skipped (see first skip message)")
	return nil
}

func stop() {
	stopOnce.Do(func() {
		s := srv
		if s == nil || s.pgCtl == "" {
			return
		}
		if s.admin != nil {
			_ = s.admin.Close()
		}
		out, err := exec.Command(s.pgCtl, "-D", s.dataDir, "-m", "immediate", "-w", "stop").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v\n%s", err, out)
		}
		_ = os.RemoveAll(s.tmpDir)
	})
}

func setup() (*server, error) {
	if os.Getenv(envDisable) == "1" {
		return nil, fmt.Errorf("%s=1", envDisable)
	}
	if raw := os.Getenv(envURL); raw != "" {
		s, err := fromURL(raw)
		if err != nil {
			// Explicitly configured but broken: fail rather than skip.
			return &server{fatal: true}, fmt.Errorf("%s: %w", envURL, err)
		}
		return s, nil
	}
	if os.Geteuid() == 0 {
		if ctl, err := exec.LookPath("pg_ctlcluster"); err == nil {
			return startCluster(ctl)
		}
		return nil, errors.New("running as root without pg_ctlcluster (initdb refuses to run as root)")
	}
	return startInitdb()
}

func fromURL(raw string) (*server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("want a postgres:// URL, got scheme %q", u.Scheme)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/postgres"
	}
	db, err := openReady(u.String(), readyTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", redact(u), err)
	}
	return &server{adminURL: u.String(), admin: db, source: redact(u)}, nil
}

// ---------------------------------------------------------------------------
// root: Debian/Ubuntu cluster via pg_ctlcluster

func startCluster(pgCtlCluster string) (*server, error) {
	ver, name := pgVersion(), os.Getenv(envCluster)
	if name == "" {
		name = "main"
	}

	// Several test binaries (go test ./...) may get here at the same time;
	// serialise creation/start/auth fix-up across processes.
	unlock, err := lockFile(filepath.Join(os.TempDir(), "clnd-pgtest-cluster.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	port, found, err := clusterPort(ver, name)
	if err != nil {
		return nil, err
	}
	if !found {
		fmt.Fprintf(os.Stderr, "pgtest: creating cluster %s/%s with pg_createcluster\n", ver, name)
		out, err := exec.Command("pg_createcluster", ver, name).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("pg_createcluster %s %s: %v: %s", ver, name, err, strings.TrimSpace(string(out)))
		}
		if port, found, err = clusterPort(ver, name); err != nil || !found {
			return nil, fmt.Errorf("cluster %s/%s missing after pg_createcluster (err=%v)", ver, name, err)
		}
	}

	out, startErr := exec.Command(pgCtlCluster, "--skip-systemctl-redirect", ver, name, "start").CombinedOutput()
	if startErr != nil && !strings.Contains(string(out), "already running") {
		startErr = fmt.Errorf("pg_ctlcluster %s %s start: %v: %s", ver, name, startErr, strings.TrimSpace(string(out)))
	} else {
		startErr = nil
	}

	adminURL := (&url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/postgres",
		RawQuery: "host=" + debianSocketDir + "&port=" + port + "&sslmode=disable",
	}).String()
	// Keep the query readable (url.Values would percent-encode the slashes).

	db, err := openReady(adminURL, readyTimeout)
	if err != nil && isAuthError(err) {
		if fixErr := ensureRootAuth(pgCtlCluster, ver, name); fixErr != nil {
			return nil, fmt.Errorf("connect %s: %v; enabling root->postgres peer map failed: %v", adminURL, err, fixErr)
		}
		db, err = openReady(adminURL, readyTimeout)
	}
	if err != nil {
		if startErr != nil {
			return nil, fmt.Errorf("%v; connect: %v", startErr, err)
		}
		return nil, fmt.Errorf("connect %s: %w", adminURL, err)
	}
	return &server{adminURL: adminURL, admin: db, source: "cluster " + ver + "/" + name}, nil
}

func pgVersion() string {
	if v := os.Getenv(envPGVersion); v != "" {
		return v
	}
	if _, err := os.Stat("/usr/lib/postgresql/" + defaultPGVersion + "/bin/postgres"); err == nil {
		return defaultPGVersion
	}
	if vs := installedVersions(); len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return defaultPGVersion
}

// clusterPort parses `pg_lsclusters -h` for "<ver> <name>".
func clusterPort(ver, name string) (port string, found bool, err error) {
	out, err := exec.Command("pg_lsclusters", "-h").CombinedOutput()
	if err != nil {
		return "", false, fmt.Errorf("pg_lsclusters: %v: %s", err, strings.TrimSpace(string(out)))
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == ver && f[1] == name {
			return f[2], true, nil
		}
	}
	return "", false, nil
}

const identMap = "clnd_pgtest"

// ensureRootAuth makes "local all postgres" use peer auth with a pg_ident
// map that admits OS users root and postgres as database user postgres.
// Debian's default pg_hba.conf ("local all postgres peer") rejects root
// connecting as postgres. This grants nothing root could not already do
// (su postgres), unlike switching to trust. Idempotent.
func ensureRootAuth(pgCtlCluster, ver, name string) error {
	dir := filepath.Join("/etc/postgresql", ver, name)
	hba := filepath.Join(dir, "pg_hba.conf")
	ident := filepath.Join(dir, "pg_ident.conf")
	hbaData, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	if strings.Contains(string(hbaData), "map="+identMap) {
		return errors.New("map already installed in " + hba + " but authentication still fails")
	}
	identData, err := os.ReadFile(ident)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	identAdd := "\n# added by clnd internal/pgtest: let root connect as postgres over the local socket\n" +
		identMap + " root postgres\n" + identMap + " postgres postgres\n"
	if err := os.WriteFile(ident, append(identData, identAdd...), 0o640); err != nil {
		return err
	}
	hbaAdd := "# added by clnd internal/pgtest: let root connect as postgres over the local socket\n" +
		"local all postgres peer map=" + identMap + "\n"
	if err := os.WriteFile(hba, append([]byte(hbaAdd), hbaData...), 0o640); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pgtest: added peer map %q (root -> postgres) to %s and %s; reloading cluster %s/%s\n", identMap, hba, ident, ver, name)
	if out, err := exec.Command(pgCtlCluster, "--skip-systemctl-redirect", ver, name, "reload").CombinedOutput(); err != nil {
		return fmt.Errorf("reload: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ---------------------------------------------------------------------------
// non-root: private throwaway server via initdb + pg_ctl

func startInitdb() (*server, error) {
	initdb, pgCtl, err := findBinaries()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "clnd-pgtest-")
	if err != nil {
		return nil, err
	}
	// Unix socket paths are limited to ~107 bytes, and the directory ends up
	// inside a shell-parsed -o string: keep it short and boring.
	if len(tmp) > 80 || !regexp.MustCompile(`^[A-Za-z0-9/._-]+$`).MatchString(tmp) {
		_ = os.RemoveAll(tmp)
		if tmp, err = os.MkdirTemp("/tmp", "clnd-pgtest-"); err != nil {
			return nil, err
		}
	}
	fail := func(err error) (*server, error) {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	data := filepath.Join(tmp, "data")
	// Make sure the server and directory go away with this process, even if
	// it dies (os.Exit, test timeout, SIGKILL) without Main's cleanup.
	startWatchdog(pgCtl, data, tmp)
	logFile := filepath.Join(tmp, "postgres.log")

	out, err := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 5)))
	}

	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", tmp, port)
	cmd := exec.Command(pgCtl, "-D", data, "-l", logFile, "-o", opts, "-w", "-t", strconv.Itoa(int(readyTimeout/time.Second)), "start")
	cmd.WaitDelay = 5 * time.Second // never hang on a pipe held open by the postmaster
	if out, err := cmd.CombinedOutput(); err != nil {
		logData, _ := os.ReadFile(logFile)
		return fail(fmt.Errorf("pg_ctl start: %v: %s\n%s", err, strings.TrimSpace(string(out)), lastLines(string(logData), 10)))
	}
	s := &server{pgCtl: pgCtl, dataDir: data, tmpDir: tmp, source: "private server in " + tmp}
	srv = s // so stop() can find it even if setup fails below
	if !mainInUse.Load() {
		fmt.Fprintln(os.Stderr, "pgtest: note: TestMain does not call pgtest.Main; the private PostgreSQL server will be stopped by a watchdog shortly after the test binary exits")
	}

	s.adminURL = (&url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/postgres",
		RawQuery: "host=" + tmp + "&port=" + strconv.Itoa(port) + "&sslmode=disable",
	}).String()
	db, err := openReady(s.adminURL, readyTimeout)
	if err != nil {
		stop()
		return nil, fmt.Errorf("connect to private server: %w", err)
	}
	s.admin = db
	return s, nil
}

// startWatchdog starts a detached shell that stops the server and removes its
// directory once this process is gone, however it exits (os.Exit, panic,
// test timeout, SIGKILL). Main normally does this first; then it is a no-op.
func startWatchdog(pgCtl, data, tmp string) {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" -D "$3" -m immediate stop >/dev/null 2>&1; rm -rf "$4"`
	cmd := exec.Command("/bin/sh", "-c", script, "pgtest-watchdog", strconv.Itoa(os.Getpid()), pgCtl, data, tmp)
	cmd.SysProcAttr = detachAttr()
	// stdin/stdout/stderr stay nil (/dev/null): holding go test's output
	// pipe open would make `go test` wait for the watchdog.
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: could not start watchdog (server in %s may outlive the test if TestMain does not call pgtest.Main): %v\n", tmp, err)
		return
	}
	_ = cmd.Process.Release()
}

func findBinaries() (initdb, pgCtl string, err error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		ctl := filepath.Join(filepath.Dir(p), "pg_ctl")
		if _, err := os.Stat(ctl); err == nil {
			return p, ctl, nil
		}
		if ctl, err := exec.LookPath("pg_ctl"); err == nil {
			return p, ctl, nil
		}
	}
	vs := installedVersions()
	for i := len(vs) - 1; i >= 0; i-- {
		bin := filepath.Join("/usr/lib/postgresql", vs[i], "bin")
		in, ctl := filepath.Join(bin, "initdb"), filepath.Join(bin, "pg_ctl")
		if isExec(in) && isExec(ctl) {
			return in, ctl, nil
		}
	}
	return "", "", errors.New("initdb/pg_ctl not found in PATH or /usr/lib/postgresql/*/bin")
}

// installedVersions lists /usr/lib/postgresql/<ver>/bin dirs, ascending.
func installedVersions() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	var vs []string
	for _, d := range dirs {
		vs = append(vs, filepath.Base(filepath.Dir(filepath.Dir(d))))
	}
	sort.Slice(vs, func(i, j int) bool {
		a, errA := strconv.ParseFloat(vs[i], 64)
		b, errB := strconv.ParseFloat(vs[j], 64)
		if errA != nil || errB != nil {
			return vs[i] < vs[j]
		}
		return a < b
	})
	return vs
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ---------------------------------------------------------------------------
// helpers

// openReady opens a pool and pings until the server accepts connections or
// the timeout expires. Authentication errors end the wait immediately.
func openReady(dsn string, timeout time.Duration) (*sql.DB, error) {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return db, nil
		}
		if isAuthError(err) || isPermanent(err) || time.Now().After(deadline) {
			_ = db.Close()
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sqlState(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

// Class 28: invalid authorization specification (peer/password failures).
func isAuthError(err error) bool { return strings.HasPrefix(sqlState(err), "28") }

// A server-reported error other than "starting up"/"too many connections"
// will not go away by waiting (e.g. 3D000 database does not exist).
func isPermanent(err error) bool {
	switch st := sqlState(err); st {
	case "", "57P03", "53300":
		return false
	default:
		return true
	}
}

func newDBName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d_%d_%s", dbNamePrefix, os.Getpid(), counter.Add(1), hex.EncodeToString(b[:]))
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func redact(u *url.URL) string {
	if _, has := u.User.Password(); has {
		c := *u
		c.User = url.UserPassword(u.User.Username(), "xxxxx")
		return c.String()
	}
	return u.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
