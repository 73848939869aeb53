package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Stoppable is a PostgreSQL server of one test's own, which the test may
// stop and start again to see how clnd behaves while its database is down.
// Unlike the shared server it runs with synchronous_commit on by default,
// so a commit that waited for it survives Crash too (fsync stays off, which
// only an operating system crash could tell).
type Stoppable struct {
	t testing.TB
	s *server
}

// StartStoppable starts a throwaway server for t (initdb and pg_ctl, as for
// the shared one, TEST_DATABASE_URL or not) with one empty database, and
// removes it when t ends. Where PostgreSQL's binaries are missing, t is
// skipped (or fails, if CLND_REQUIRE_POSTGRES=1).
func StartStoppable(t testing.TB) *Stoppable {
	t.Helper()
	if os.Getenv(envDisable) == "1" {
		mustServer(t) // skips, with the usual message
	}
	s, err := initPrivate("-c fsync=off -c full_page_writes=off -c max_connections=40")
	if err == nil {
		if err = s.start(); err != nil {
			_ = os.RemoveAll(s.tmpDir)
		}
	}
	if err != nil {
		if os.Getenv(envRequire) == "1" {
			t.Fatalf("pgtest: a stoppable PostgreSQL server: %v", err)
		}
		t.Skipf("pgtest: no stoppable PostgreSQL server (%v): skipped", err)
	}
	p := &Stoppable{t: t, s: s}
	t.Cleanup(func() {
		_ = s.halt()
		_ = os.RemoveAll(s.tmpDir)
	})
	db, err := openReady(s.adminURL, readyTimeout)
	if err != nil {
		t.Fatalf("pgtest: connecting to the stoppable server: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `CREATE DATABASE clnd TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("pgtest: creating the stoppable server's database: %v", err)
	}
	return p
}

// DSN is a lib/pq URL of the server's database.
func (p *Stoppable) DSN() string {
	u, err := url.Parse(p.s.adminURL)
	if err != nil { // cannot happen: built by initPrivate
		p.t.Fatal(err)
	}
	u.Path = "/clnd"
	return u.String()
}

// Stop stops the server as an administrator's restart or a failover
// would (pg_ctl -m fast): connections are cut, everything committed is
// kept, and new connections are refused until Start.
func (p *Stoppable) Stop() {
	p.t.Helper()
	if err := p.s.stop("fast"); err != nil {
		p.t.Fatalf("pgtest: %v", err)
	}
}

// Crash stops the server as a crash would (pg_ctl -m immediate): no
// shutdown checkpoint; Start recovers from the WAL. Commits made with
// synchronous_commit off in the last moments before it may be lost.
func (p *Stoppable) Crash() {
	p.t.Helper()
	if err := p.s.halt(); err != nil {
		p.t.Fatalf("pgtest: %v", err)
	}
}

// Start starts the stopped server again and waits until it accepts
// connections (after recovering, if it crashed).
func (p *Stoppable) Start() {
	p.t.Helper()
	if err := p.s.start(); err != nil {
		p.t.Fatalf("pgtest: %v", err)
	}
}

// Freeze stops every process of the server with SIGSTOP, as a hung host or
// a network that silently drops packets would look to clnd: connections stay
// open (the kernel still accepts them) and nothing is ever answered. Thaw
// resumes them; so does the test's end.
func (p *Stoppable) Freeze() {
	p.t.Helper()
	if err := p.s.signalAll(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("pgtest: freezing the server: %v", err)
	}
	p.t.Cleanup(func() { _ = p.s.signalAll(syscall.SIGCONT) })
}

// Thaw resumes a frozen server.
func (p *Stoppable) Thaw() {
	p.t.Helper()
	if err := p.s.signalAll(syscall.SIGCONT); err != nil {
		p.t.Fatalf("pgtest: thawing the server: %v", err)
	}
}

// signalAll sends sig to the postmaster (the first line of postmaster.pid)
// and to each of its children.
func (s *server) signalAll(sig syscall.Signal) error {
	data, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	pids := []int{postmaster}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		i := strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
			return err
		}
	}
	return nil
}
