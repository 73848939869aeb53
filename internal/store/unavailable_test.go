package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"clnd/ent"
	"clnd/internal/store"
)

// Outages are told from failed statements, however deeply wrapped; the
// shapes are those lib/pq, database/sql, net and modernc's SQLite return.
func TestUnavailableClassifiesErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	noSocket := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("ent: starting a transaction: %w", refused), true},
		{"missing unix socket", noSocket, true},
		{"bad connection", fmt.Errorf("recording: %w", driver.ErrBadConn), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"too many clients", &pq.Error{Code: "53300", Message: "sorry, too many clients already"}, true},
		{"admin shutdown", &pq.Error{Code: "57P01"}, true},
		{"starting up", &pq.Error{Code: "57P03"}, true},
		{"connection failure", &pq.Error{Code: "08006"}, true},
		{"deadlock victim", fmt.Errorf("removing: %w", &pq.Error{Code: "40P01"}), true},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"syntax error", &pq.Error{Code: "42601"}, false},
		{"not found", &ent.NotFoundError{}, false},
		{"no rows", sql.ErrNoRows, false},
		{"a statement's deadline", context.DeadlineExceeded, false},
		{"canceled", context.Canceled, false},
		{"plain", errors.New("something else"), false},
		{"nil", nil, false},
	} {
		if got := store.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
		if reason := store.UnavailableReason(tc.err); (reason != "") != tc.want {
			t.Errorf("%s: reason %q", tc.name, reason)
		}
	}
}

// A server that accepts connections and then says nothing is an outage once
// connect_timeout has passed, not a hang.
func TestSilentServerIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	start := time.Now()
	_, err = store.Open(context.Background(), "postgres://clnd@"+ln.Addr().String()+"/clnd?sslmode=disable&connect_timeout=1")
	if err == nil || !store.Unavailable(err) {
		t.Fatalf("opening a silent server: %v (unavailable: %v)", err, store.Unavailable(err))
	}
	if waited := time.Since(start); waited > 8*time.Second {
		t.Fatalf("opening a silent server took %v", waited)
	}
}
