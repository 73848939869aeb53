package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/lib/pq"
)

// PostgreSQL connections through lib/pq do not give up on a database that
// stopped answering: when a statement's context ends, lib/pq asks the server
// to cancel it (over a second connection) and goes on waiting for the
// statement's answer, which a frozen server (a hung host, a network that
// drops packets, every process stopped) never sends. A request past its
// deadline, a probe, a subscription whose client left all held their
// connection, and their goroutine, for as long as the database was frozen.
//
// expiringConnector opens lib/pq's connections through a dialer that keeps
// each one's socket, and expiringConn expires that socket (a deadline in
// the past) when the context of the work the connection does has ended and
// the database has still not answered expireGrace later: the blocked read
// fails, lib/pq marks the connection broken, the work returns the context's
// error, and database/sql discards the connection. A database that answers
// the cancellation within the grace (every healthy one) is answered as
// before. pgx does the same by default; lib/pq has no such option.
type expiringConnector struct {
	dsn string
}

// expireGrace is how long a database has to answer after the context of a
// statement ended (lib/pq's cancel request) before the socket is expired.
const expireGrace = 250 * time.Millisecond

func (c *expiringConnector) Connect(ctx context.Context) (driver.Conn, error) {
	pc, err := pq.NewConnector(c.dsn)
	if err != nil {
		return nil, err
	}
	// The handshake too gives up when ctx ends (lib/pq bounds it by
	// connect_timeout alone): a request waiting for a new connection to a
	// frozen server is let go at its deadline.
	d := &socketDialer{ctx: ctx}
	pc.Dialer(d)
	conn, err := pc.Connect(ctx)
	expired := d.connected()
	if err != nil {
		if expired {
			return nil, fmt.Errorf("%w: %w (%w)", errExpired, context.Cause(ctx), err)
		}
		return nil, err
	}
	sock := d.last()
	if expired || sock == nil { // sock: lib/pq dials through d
		_ = conn.Close()
		return nil, fmt.Errorf("%w: %w", errExpired, context.Cause(ctx))
	}
	return &expiringConn{conn: conn, sock: sock}, nil
}

func (c *expiringConnector) Driver() driver.Driver { return &pq.Driver{} }

// socketDialer dials as lib/pq's default dialer does and remembers the
// last socket it opened: the connection's own (a cancel request, later,
// dials through it too, after the connection took its socket). Until
// connected is called, a socket it opened is expired when ctx ends.
type socketDialer struct {
	ctx context.Context
	d   net.Dialer

	mu      sync.Mutex
	sock    net.Conn
	stops   []func() bool
	expired bool
}

func (d *socketDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *socketDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d *socketDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	sock, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sock = sock
	if d.ctx != nil {
		d.stops = append(d.stops, context.AfterFunc(d.ctx, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.expired = true
			// Closed, not given a past deadline: lib/pq sets the
			// handshake's own deadline after dialing, which would
			// overwrite ours.
			_ = sock.Close()
		}))
	}
	return sock, nil
}

// connected ends the handshake's watch and says whether it expired a socket.
func (d *socketDialer) connected() (expired bool) {
	d.mu.Lock()
	stops := d.stops
	d.stops, d.ctx = nil, nil
	d.mu.Unlock()
	started := false
	for _, stop := range stops {
		started = !stop() || started // its expiry runs, or has run
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired || started
}

func (d *socketDialer) last() net.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sock
}

// errExpired is why a connection's socket was expired.
var errExpired = errors.New("the database did not answer after the work's context ended")

// expiringConn is a lib/pq connection whose work is watched (watch).
type expiringConn struct {
	conn driver.Conn
	sock net.Conn

	mu      sync.Mutex
	expired bool
}

// watch expires the socket expireGrace after ctx ends, unless the returned
// function is called first (the work is done). That function returns err,
// or, when the socket was expired for this work, ctx's error joined to it.
func (c *expiringConn) watch(ctx context.Context) func(err error) error {
	if ctx.Done() == nil {
		return func(err error) error { return err }
	}
	var (
		mu     sync.Mutex
		done   bool
		fired  bool
		expire *time.Timer
	)
	stopAfter := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		expire = time.AfterFunc(expireGrace, func() {
			mu.Lock()
			defer mu.Unlock()
			if done {
				return
			}
			fired = true
			c.expire()
		})
	})
	return func(err error) error {
		stopAfter()
		mu.Lock()
		done = true
		if expire != nil {
			expire.Stop()
		}
		expired := fired
		mu.Unlock()
		if expired && err != nil {
			return fmt.Errorf("%w: %w (%w)", errExpired, context.Cause(ctx), err)
		}
		return err
	}
}

// expire makes every read and write of the socket fail from now on.
func (c *expiringConn) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expired = true
	_ = c.sock.SetDeadline(time.Unix(1, 0))
}

func (c *expiringConn) isExpired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expired
}

func (c *expiringConn) Prepare(query string) (driver.Stmt, error) {
	st, err := c.conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	return &expiringStmt{Stmt: st, c: c}, nil
}

func (c *expiringConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	done := c.watch(ctx)
	st, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err = done(err); err != nil {
		return nil, err
	}
	return &expiringStmt{Stmt: st, c: c}, nil
}

func (c *expiringConn) Close() error { return c.conn.Close() }

func (c *expiringConn) Begin() (driver.Tx, error) {
	return c.conn.Begin() //lint:ignore SA1019 driver.Conn requires it; database/sql calls BeginTx
}

// BeginTx watches the transaction until it ends, as lib/pq does for its
// cancellation: database/sql rolls back a transaction whose context ended,
// and that rollback must not wait for a frozen server either.
func (c *expiringConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	done := c.watch(ctx)
	tx, err := c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, done(err)
	}
	return &expiringTx{Tx: tx, done: done}, nil
}

func (c *expiringConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	done := c.watch(ctx)
	rows, err := c.conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil {
		return nil, done(err)
	}
	return &expiringRows{Rows: rows, done: done}, nil
}

func (c *expiringConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	done := c.watch(ctx)
	res, err := c.conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	return res, done(err)
}

func (c *expiringConn) Ping(ctx context.Context) error {
	done := c.watch(ctx)
	return done(c.conn.(driver.Pinger).Ping(ctx))
}

func (c *expiringConn) ResetSession(ctx context.Context) error {
	if c.isExpired() {
		return driver.ErrBadConn
	}
	return c.conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *expiringConn) IsValid() bool {
	return !c.isExpired() && c.conn.(driver.Validator).IsValid()
}

func (c *expiringConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// expiringTx stops watching its context when it ends.
type expiringTx struct {
	driver.Tx
	done func(error) error
}

func (tx *expiringTx) Commit() error   { return tx.done(tx.Tx.Commit()) }
func (tx *expiringTx) Rollback() error { return tx.done(tx.Tx.Rollback()) }

// expiringStmt watches each execution of a prepared statement.
type expiringStmt struct {
	driver.Stmt
	c *expiringConn
}

func (s *expiringStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	done := s.c.watch(ctx)
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, done(err)
}

func (s *expiringStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	done := s.c.watch(ctx)
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, done(err)
	}
	return &expiringRows{Rows: rows, done: done}, nil
}

func (s *expiringStmt) CheckNamedValue(nv *driver.NamedValue) error {
	return s.c.CheckNamedValue(nv)
}

// expiringRows are watched until they are closed: lib/pq reads them from
// the socket as they are scanned, and database/sql closes them (reading
// what is left) when their context ends.
type expiringRows struct {
	driver.Rows
	done func(error) error
}

func (r *expiringRows) Close() error { return r.done(r.Rows.Close()) }

func (r *expiringRows) Next(dest []driver.Value) error {
	return r.Rows.Next(dest)
}

func (r *expiringRows) HasNextResultSet() bool {
	return r.Rows.(driver.RowsNextResultSet).HasNextResultSet()
}

func (r *expiringRows) NextResultSet() error {
	return r.Rows.(driver.RowsNextResultSet).NextResultSet()
}

func (r *expiringRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

func (r *expiringRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *expiringRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

func (r *expiringRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.Rows.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}
