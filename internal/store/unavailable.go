package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/lib/pq"
	"modernc.org/sqlite"
)

// Unavailable reports whether err says that the database cannot be used
// right now, rather than that a statement was wrong: the server cannot be
// reached or went away (a refused or reset connection, a missing socket, a
// dial timeout, a connection database/sql found broken), it refuses new
// connections (too many clients, starting up or shutting down), or SQLite
// stayed locked by another writer beyond its busy timeout, or PostgreSQL
// ended the work to break a deadlock that retries did not resolve. A client should
// retry such a request later; nothing it asked for was done.
//
// A bare context deadline is not enough: a deadline that ran out while a
// statement ran is not an outage. The deadline of a connection attempt
// comes wrapped in a net error, and counts.
func Unavailable(err error) bool {
	return err != nil && unavailableReason(err) != ""
}

// UnavailableReason says in a few words why the database is unavailable
// (for /readyz and logs), or "" when err is not an outage. It never repeats
// the error's own text, which may name hosts, sockets or users.
func UnavailableReason(err error) string {
	if err == nil {
		return ""
	}
	return unavailableReason(err)
}

func unavailableReason(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		code := string(pqErr.Code)
		switch {
		case code == "53300":
			return "too many clients: the database refuses new connections"
		case code == "57P01" || code == "57P02":
			return "the database is shutting down"
		case code == "57P03":
			return "the database is starting up or recovering"
		case strings.HasPrefix(code, "08"): // connection exception
			return "the connection to the database failed"
		case code == "40P01":
			// Nothing of the transaction was kept; the same request,
			// sent again, finds the other side of the cycle gone.
			return "the database ended this work to break a deadlock with other work"
		}
		return ""
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff { // primary code of an extended one
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return "the database stayed locked by another writer"
		}
		return ""
	}
	// *net.OpError, not the net.Error interface: context.DeadlineExceeded
	// implements that too, and a bare deadline is not an outage.
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT) && errors.As(err, &opErr):
		return "the database refuses connections (not running?)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "the database closed the connection"
	case errors.As(err, &opErr) && opErr.Timeout():
		return "the database did not answer in time"
	case errors.As(err, &opErr), errors.As(err, &dnsErr):
		return "the database cannot be reached"
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection to the database broke"
	}
	return ""
}

// NotAnswered says that work done with ctx failed (err) because the
// database could not be used or did not answer before ctx's deadline: an
// outage, or a request past its deadline (its statements were cancelled or
// their sockets expired). Either way, retry later.
func NotAnswered(ctx context.Context, err error) bool {
	return err != nil && (Unavailable(err) || errors.Is(ctx.Err(), context.DeadlineExceeded))
}
