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
//  2. Otherwise a private, throwaway server is started once per test binary:
//     initdb into a temporary directory (trust auth, unix socket in that
//     directory only, fsync off) and pg_ctl start, with the binaries of
//     PGTEST_PG_VERSION, PATH, or the newest /usr/lib/postgresql/<ver>.
//     initdb and postgres refuse to run as root, so as root they run as the
//     OS user "postgres" (or PGTEST_OS_USER, or "nobody"), which owns the
//     directory. The server is stopped and its directory removed by Main
//     after m.Run, and, as a backstop, by a small watchdog process when the
//     test binary exits without Main having run. Nothing outside the
//     temporary directory is touched: no system cluster is started and no
//     system configuration is edited.
//
// If no server can be had, tests calling DSN or AdminDSN are skipped with a
// loud message, or fail if CLND_REQUIRE_POSTGRES=1.
//
// A test that needs to stop the database under clnd (an outage) starts a
// server of its own with StartStoppable (outage.go).
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
	"net/url"
	"os"
	"os/exec"
	"os/user"
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
	envOSUser    = "PGTEST_OS_USER"

	socketPort   = 5432 // names the socket file; the directory is private
	readyTimeout = 30 * time.Second
	dbNamePrefix = "clndtest_"
)

// server is the process-wide state, set up once.
type server struct {
	adminURL string  // URL of the maintenance database
	admin    *sql.DB // shared admin pool used for CREATE/DROP DATABASE
	source   string  // human-readable description of where the server came from
	fatal    bool    // setup failed in a way that must fail tests, not skip them

	// set only for a server this process started with initdb/pg_ctl
	pgCtl   string
	owner   *osUser // nil: runs as this process's user
	dataDir string
	tmpDir  string
	options string // pg_ctl -o: socket, port and settings
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
// It runs the tests, then stops the private server this process started
// (if any), and exits with the tests' exit code.
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
		if err := s.halt(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
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
	return startPrivate()
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
// private throwaway server via initdb + pg_ctl

func startPrivate() (*server, error) {
	// Durability is worthless for a throwaway server; turning it off makes
	// start-up and every CREATE DATABASE cheaper.
	s, err := initPrivate("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
	if err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(s.tmpDir)
		return nil, err
	}
	srv = s // so stop() can find it even if setup fails below
	if !mainInUse.Load() {
		fmt.Fprintln(os.Stderr, "pgtest: note: TestMain does not call pgtest.Main; the private PostgreSQL server will be stopped by a watchdog shortly after the test binary exits")
	}
	db, err := openReady(s.adminURL, readyTimeout)
	if err != nil {
		stop()
		return nil, fmt.Errorf("connect to private server: %w", err)
	}
	s.admin = db
	return s, nil
}

// initPrivate creates a server's directory and cluster (initdb), to be
// started with settings (postgres -c options) by start.
func initPrivate(settings string) (*server, error) {
	initdb, pgCtl, err := findBinaries()
	if err != nil {
		return nil, err
	}
	// initdb and postgres refuse to run as root: as root, the server runs as
	// an unprivileged user and owns the temporary directory.
	owner, err := serverOwner()
	if err != nil {
		return nil, err
	}
	tmp, err := makeTempDir(owner)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*server, error) {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	if owner != nil {
		if err := os.Chown(tmp, int(owner.uid), int(owner.gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(tmp, "data")
	// Make sure the server and directory go away with this process, even if
	// it dies (os.Exit, test timeout, SIGKILL) without Main's cleanup.
	startWatchdog(data, tmp)

	out, err := owner.command(tmp, initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("initdb%s: %v: %s", owner.describe(), err, lastLines(string(out), 5)))
	}
	// Only a unix socket in the private directory: no TCP port to collide
	// on, so the port number is just part of the socket's name.
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses='' -c wal_level=minimal -c max_wal_senders=0 %s", tmp, socketPort, settings)
	s := &server{pgCtl: pgCtl, owner: owner, dataDir: data, tmpDir: tmp, options: opts, source: "private server in " + tmp}
	s.adminURL = (&url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/postgres",
		RawQuery: "host=" + tmp + "&port=" + strconv.Itoa(socketPort) + "&sslmode=disable",
	}).String()
	return s, nil
}

// start starts (or starts again) a server initPrivate made, and waits
// until it accepts connections.
func (s *server) start() error {
	logFile := filepath.Join(s.tmpDir, "postgres.log")
	cmd := s.owner.command(s.tmpDir, s.pgCtl, "-D", s.dataDir, "-l", logFile, "-o", s.options, "-w", "-t", strconv.Itoa(int(readyTimeout/time.Second)), "start")
	cmd.WaitDelay = 5 * time.Second // never hang on a pipe held open by the postmaster
	if out, err := cmd.CombinedOutput(); err != nil {
		logData, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start%s: %v: %s\n%s", s.owner.describe(), err, strings.TrimSpace(string(out)), lastLines(string(logData), 10))
	}
	return nil
}

// halt stops a server this process started, as a crash would (pg_ctl -m
// immediate: no checkpoint, clients cut off).
func (s *server) halt() error { return s.stop("immediate") }

// stop stops a server this process started in pg_ctl's mode: "fast" (what
// an administrator's restart does: clients are disconnected, everything
// committed is written) or "immediate".
func (s *server) stop(mode string) error {
	out, err := s.owner.command(s.tmpDir, s.pgCtl, "-D", s.dataDir, "-m", mode, "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, lastLines(string(out), 5))
	}
	return nil
}

// osUser is the unprivileged account a root test process runs the server
// as; nil means "as this process".
type osUser struct {
	name     string
	uid, gid uint32
}

// serverOwner picks the account for the server: nil unless running as root;
// as root, PGTEST_OS_USER, else "postgres" (installed with the server
// packages), else "nobody".
func serverOwner() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	names := []string{"postgres", "nobody"}
	if n := os.Getenv(envOSUser); n != "" {
		names = []string{n}
	}
	for _, n := range names {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &osUser{name: n, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and no unprivileged user %v to run initdb/postgres as (set %s)", names, envOSUser)
}

// command builds a command that runs as u (or as this process if u is nil),
// in dir: the test's working directory may not be readable by u.
func (u *osUser) command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if u != nil {
		cmd.SysProcAttr = credentialAttr(u.uid, u.gid)
		cmd.Env = append(os.Environ(), "HOME="+dir, "USER="+u.name, "LOGNAME="+u.name)
	}
	return cmd
}

func (u *osUser) describe() string {
	if u == nil {
		return ""
	}
	return " (as OS user " + u.name + ")"
}

// makeTempDir creates the server's directory. Unix socket paths are limited
// to ~107 bytes, and the directory ends up inside a shell-parsed -o string:
// keep it short and boring. When the server runs as another user, every
// parent directory must let that user through.
func makeTempDir(owner *osUser) (string, error) {
	base := os.TempDir()
	if len(base) > 60 || !safePath.MatchString(base) || (owner != nil && !traversable(base)) {
		base = "/tmp"
	}
	return os.MkdirTemp(base, "clnd-pgtest-")
}

var safePath = regexp.MustCompile(`^[A-Za-z0-9/._-]+$`)

// traversable reports whether every directory from / down to dir can be
// searched by any user.
func traversable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" || d == "." {
			return true
		}
	}
}

// startWatchdog starts a detached shell that stops the server and removes its
// directory once this process is gone, however it exits (os.Exit, panic,
// test timeout, SIGKILL). Main normally does this first; then it is a no-op.
// It stops the postmaster with SIGQUIT (what pg_ctl -m immediate sends), so
// it needs no pg_ctl and no change of user: the watchdog runs as this
// process's user, which started (or, as root, may signal) the server.
func startWatchdog(data, tmp string) {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done
pm=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
if [ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null; then
	i=0; while kill -0 "$pm" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
fi
rm -rf "$3"`
	cmd := exec.Command("/bin/sh", "-c", script, "pgtest-watchdog", strconv.Itoa(os.Getpid()), data, tmp)
	cmd.SysProcAttr = detachAttr()
	// stdin/stdout/stderr stay nil (/dev/null): holding go test's output
	// pipe open would make `go test` wait for the watchdog.
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: could not start watchdog (server in %s may outlive the test if TestMain does not call pgtest.Main): %v\n", tmp, err)
		return
	}
	_ = cmd.Process.Release()
}

// findBinaries finds initdb and pg_ctl: PGTEST_PG_VERSION's, else from PATH,
// else the newest under /usr/lib/postgresql (Debian keeps them off PATH).
func findBinaries() (initdb, pgCtl string, err error) {
	if v := os.Getenv(envPGVersion); v != "" {
		bin := filepath.Join("/usr/lib/postgresql", v, "bin")
		in, ctl := filepath.Join(bin, "initdb"), filepath.Join(bin, "pg_ctl")
		if isExec(in) && isExec(ctl) {
			return in, ctl, nil
		}
		return "", "", fmt.Errorf("%s=%s: no initdb/pg_ctl in %s", envPGVersion, v, bin)
	}
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
