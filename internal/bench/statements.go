package bench

import (
	"context"
	"database/sql/driver"
	"errors"
	"net/http"
	"sync"
)

// Statements counts the SQL statements each HTTP request sends to the
// database. Its connector wraps lib/pq's (store.WrapPostgres), its middleware
// gives every request a counter in the context, and the driver adds to the
// counter of the context each statement runs under. BEGIN, COMMIT and
// ROLLBACK are statements too; preparing one is not (with lib/pq's
// binary_parameters, which store sets, nothing is prepared separately).
type Statements struct {
	mu       sync.Mutex
	requests int64
	total    int64
	min, max int64
}

type counterKey struct{}

type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func count(ctx context.Context) {
	if c, ok := ctx.Value(counterKey{}).(*counter); ok {
		c.add()
	}
}

// Middleware counts the statements of each request that passes through it.
func (s *Statements) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &counter{}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), counterKey{}, c)))
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		s.mu.Lock()
		if s.requests == 0 || n < s.min {
			s.min = n
		}
		if n > s.max {
			s.max = n
		}
		s.requests++
		s.total += n
		s.mu.Unlock()
	})
}

// StatementStats sums the requests since the last Reset.
type StatementStats struct {
	Requests, Total, Min, Max int64
}

// PerRequest is the mean number of statements per request.
func (s StatementStats) PerRequest() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Total) / float64(s.Requests)
}

// Reset starts counting afresh and returns what was counted so far.
func (s *Statements) Reset() StatementStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := StatementStats{Requests: s.requests, Total: s.total, Min: s.min, Max: s.max}
	s.requests, s.total, s.min, s.max = 0, 0, 0, 0
	return out
}

// Wrap is the connector wrapper for store.WrapPostgres.
func (s *Statements) Wrap(c driver.Connector) driver.Connector { return connector{c} }

type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{conn}, nil
}

// countingConn offers database/sql exactly what lib/pq's connection offers,
// counting each statement on the way through.
type countingConn struct{ driver.Conn }

var (
	_ driver.ExecerContext      = (*countingConn)(nil)
	_ driver.QueryerContext     = (*countingConn)(nil)
	_ driver.ConnPrepareContext = (*countingConn)(nil)
	_ driver.ConnBeginTx        = (*countingConn)(nil)
	_ driver.Pinger             = (*countingConn)(nil)
	_ driver.SessionResetter    = (*countingConn)(nil)
	_ driver.Validator          = (*countingConn)(nil)
	_ driver.NamedValueChecker  = (*countingConn)(nil)
)

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	inner, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := inner.ExecContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		count(ctx)
	}
	return res, err
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	inner, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := inner.QueryContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		count(ctx)
	}
	return rows, err
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if inner, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = inner.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st}, nil
}

func (c *countingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var tx driver.Tx
	var err error
	if inner, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = inner.BeginTx(ctx, opts)
	} else {
		tx, err = c.Conn.Begin() //nolint:staticcheck // only for drivers without BeginTx
	}
	count(ctx)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, ctx: ctx}, nil
}

func (c *countingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// countingTx counts COMMIT and ROLLBACK under the context that began it.
type countingTx struct {
	driver.Tx
	ctx context.Context
}

func (t countingTx) Commit() error {
	count(t.ctx)
	return t.Tx.Commit()
}

func (t countingTx) Rollback() error {
	count(t.ctx)
	return t.Tx.Rollback()
}

// countingStmt counts each execution of a prepared statement.
type countingStmt struct{ driver.Stmt }

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	count(ctx)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, errors.New("bench: the driver's statement has no ExecContext")
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	count(ctx)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, errors.New("bench: the driver's statement has no QueryContext")
}

func (s *countingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
