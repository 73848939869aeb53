package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// database is where a run's data lives, and how to get rid of it.
type database struct {
	url  string
	drop func() // removes what the run created; nil when it created nothing
}

// throwawayDatabase makes an empty database for one run: through adminURL
// (an admin-capable postgres:// URL, like TEST_DATABASE_URL) when given,
// otherwise on a private server started with initdb and pg_ctl in a
// temporary directory (as internal/pgtest does for tests), stopped and
// removed again by drop.
func throwawayDatabase(ctx context.Context, adminURL string, progress io.Writer) (*database, error) {
	if adminURL != "" {
		return createDatabase(ctx, adminURL, func() {})
	}
	srv, err := startPrivateServer(ctx, progress)
	if err != nil {
		return nil, err
	}
	db, err := createDatabase(ctx, srv.adminURL, srv.stop)
	if err != nil {
		srv.stop()
		return nil, err
	}
	return db, nil
}

func createDatabase(ctx context.Context, adminURL string, after func()) (*database, error) {
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "clnd_bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'`); err != nil {
		admin.Close()
		return nil, fmt.Errorf("creating the benchmark database: %w", err)
	}
	// JIT compilation costs a statement whose estimated cost passes
	// jit_above_cost tens to hundreds of milliseconds, and a page of nested
	// JSON passes it easily: it would measure LLVM, not the query.
	if _, err := admin.ExecContext(ctx, `ALTER DATABASE `+name+` SET jit = off`); err != nil {
		admin.Close()
		return nil, fmt.Errorf("turning JIT off on the benchmark database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		admin.Close()
		return nil, err
	}
	u.Path = "/" + name
	u.RawPath = ""
	return &database{url: u.String(), drop: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		admin.Close()
		after()
	}}, nil
}

type privateServer struct {
	adminURL string
	stop     func()
}

// startPrivateServer runs initdb and pg_ctl in a temporary directory, tuned
// for a throwaway benchmark (no fsync). As root it runs them as the
// "postgres" user, since initdb refuses to run as root.
func startPrivateServer(ctx context.Context, progress io.Writer) (*privateServer, error) {
	initdb, pgCtl, err := findPostgres()
	if err != nil {
		return nil, fmt.Errorf("no PostgreSQL to benchmark on (%v): install postgresql, or pass --database-url or TEST_DATABASE_URL", err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, the private PostgreSQL server needs a 'postgres' user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	tmp, err := os.MkdirTemp("", "clnd-bench-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(tmp, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	}
	data := filepath.Join(tmp, "data")
	logFile := filepath.Join(tmp, "postgres.log")
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	fmt.Fprintf(progress, "starting a private PostgreSQL server in %s\n", tmp)
	if out, err := command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(string(out)))
	}
	port := 20000 + int(time.Now().UnixNano()%20000)
	opts := fmt.Sprintf("-k %s -p %d -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c jit=off", tmp, port)
	if out, err := command(pgCtl, "-D", data, "-l", logFile, "-o", opts, "-w", "-t", "30", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logFile)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, lastLines(string(out)), lastLines(string(log)))
	}
	stop := func() {
		cmd := exec.Command(pgCtl, "-D", data, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		_ = cmd.Run()
		_ = os.RemoveAll(tmp)
	}
	adminURL := (&url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/postgres",
		RawQuery: "host=" + tmp + "&port=" + strconv.Itoa(port) + "&sslmode=disable",
	}).String()
	return &privateServer{adminURL: adminURL, stop: stop}, nil
}

func findPostgres() (initdb, pgCtl string, err error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			ctl := filepath.Join(filepath.Dir(real), "pg_ctl")
			if _, err := os.Stat(ctl); err == nil {
				return real, ctl, nil
			}
		}
		if ctl, err := exec.LookPath("pg_ctl"); err == nil {
			return p, ctl, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		in, ctl := filepath.Join(dirs[i], "initdb"), filepath.Join(dirs[i], "pg_ctl")
		if _, err := os.Stat(in); err == nil {
			if _, err := os.Stat(ctl); err == nil {
				return in, ctl, nil
			}
		}
	}
	return "", "", errors.New("initdb and pg_ctl not found in PATH or /usr/lib/postgresql/*/bin")
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
