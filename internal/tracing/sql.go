package tracing

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// maxStatement bounds the statement text kept on a span: a compiled read's
// SQL runs to kilobytes, and the text is there to recognise the statement,
// not to replay it.
const maxStatement = 2048

// SQL wraps a database/sql connector so that every statement run inside a
// traced request is a span: its name the statement's first keyword
// (SELECT, INSERT, BEGIN, COMMIT ...), its attributes the database system
// and the statement text, truncated. Argument values are never recorded:
// clnd's statements keep every value a parameter (ent's builder, the read
// compiler), so the text carries no tokens, passwords or customer data.
//
// A statement outside any span (the billing scheduler, the check-in
// batcher, migrations) makes none: a trace of its own per statement would
// bury the requests' traces. system is the db.system.name value
// ("postgresql", "sqlite").
func SQL(c driver.Connector, system string) driver.Connector {
	return &sqlConnector{Connector: c, system: semconv.DBSystemNameKey.String(system)}
}

type sqlConnector struct {
	driver.Connector
	system attribute.KeyValue
}

func (c *sqlConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &sqlConn{conn: conn, system: c.system}, nil
}

// Close closes the wrapped connector if it holds anything (database/sql
// calls it from DB.Close).
func (c *sqlConnector) Close() error {
	if closer, ok := c.Connector.(io.Closer); ok {
		return closer.Close()
	}
	return nil
}

// DSNConnector is the connector database/sql builds for sql.Open(name, dsn),
// for drivers (like modernc's SQLite) that have no connector of their own.
func DSNConnector(d driver.Driver, dsn string) driver.Connector {
	if dc, ok := d.(driver.DriverContext); ok {
		if c, err := dc.OpenConnector(dsn); err == nil {
			return c
		}
	}
	return dsnConnector{driver: d, dsn: dsn}
}

type dsnConnector struct {
	driver driver.Driver
	dsn    string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.driver }

// sqlConn passes everything to the driver's connection and adds spans
// around the calls that talk to the database. Both drivers clnd uses
// implement every context interface; for one that did not, the wrapper
// answers driver.ErrSkip and database/sql takes its fallback path.
type sqlConn struct {
	conn   driver.Conn
	system attribute.KeyValue
}

var (
	_ driver.Conn               = (*sqlConn)(nil)
	_ driver.ConnBeginTx        = (*sqlConn)(nil)
	_ driver.ConnPrepareContext = (*sqlConn)(nil)
	_ driver.ExecerContext      = (*sqlConn)(nil)
	_ driver.QueryerContext     = (*sqlConn)(nil)
	_ driver.Pinger             = (*sqlConn)(nil)
	_ driver.SessionResetter    = (*sqlConn)(nil)
	_ driver.Validator          = (*sqlConn)(nil)
	_ driver.NamedValueChecker  = (*sqlConn)(nil)
)

// start begins a statement's span, or returns a nil span outside any trace.
func (c *sqlConn) start(ctx context.Context, name, query string) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{c.system}
	if query != "" {
		attrs = append(attrs, semconv.DBQueryText(truncate(query)))
	}
	return tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// end records err (not database/sql's driver.ErrSkip, which only says
// "take another path") and ends span.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, driver.ErrSkip) {
		span.RecordError(err)
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

func (c *sqlConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *sqlConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	ctx, span := c.start(ctx, "PREPARE", query)
	var stmt driver.Stmt
	var err error
	if p, ok := c.conn.(driver.ConnPrepareContext); ok {
		stmt, err = p.PrepareContext(ctx, query)
	} else {
		stmt, err = c.conn.Prepare(query)
	}
	end(span, err)
	if err != nil {
		return nil, err
	}
	return &sqlStmt{stmt: stmt, conn: c, query: query}, nil
}

func (c *sqlConn) Close() error { return c.conn.Close() }

func (c *sqlConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *sqlConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	spanCtx, span := c.start(ctx, "BEGIN", "")
	var tx driver.Tx
	var err error
	if b, ok := c.conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(spanCtx, opts)
	} else {
		tx, err = c.conn.Begin()
	}
	end(span, err)
	if err != nil {
		return nil, err
	}
	return &sqlTx{tx: tx, conn: c, ctx: ctx}, nil
}

func (c *sqlConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := c.start(ctx, operation(query), query)
	res, err := e.ExecContext(ctx, query, args)
	end(span, err)
	return res, err
}

// QueryContext's span covers sending the statement and its first answer;
// the rows are read after it ends.
func (c *sqlConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := c.start(ctx, operation(query), query)
	rows, err := q.QueryContext(ctx, query, args)
	end(span, err)
	return rows, err
}

func (c *sqlConn) Ping(ctx context.Context) error {
	if p, ok := c.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *sqlConn) ResetSession(ctx context.Context) error {
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *sqlConn) IsValid() bool {
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *sqlConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip // database/sql's default conversion
}

// sqlTx spans the commit or rollback under the context the transaction
// began in (driver.Tx's methods take none).
type sqlTx struct {
	tx   driver.Tx
	conn *sqlConn
	ctx  context.Context
}

func (t *sqlTx) Commit() error {
	_, span := t.conn.start(t.ctx, "COMMIT", "")
	err := t.tx.Commit()
	end(span, err)
	return err
}

func (t *sqlTx) Rollback() error {
	_, span := t.conn.start(t.ctx, "ROLLBACK", "")
	err := t.tx.Rollback()
	end(span, err)
	return err
}

// sqlStmt is a prepared statement (the compiled reads' cache); each
// execution is a span named after the statement.
type sqlStmt struct {
	stmt  driver.Stmt
	conn  *sqlConn
	query string
}

var (
	_ driver.StmtExecContext  = (*sqlStmt)(nil)
	_ driver.StmtQueryContext = (*sqlStmt)(nil)
)

func (s *sqlStmt) Close() error  { return s.stmt.Close() }
func (s *sqlStmt) NumInput() int { return s.stmt.NumInput() }

func (s *sqlStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.stmt.Exec(args)
}

func (s *sqlStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.stmt.Query(args)
}

func (s *sqlStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, span := s.conn.start(ctx, operation(s.query), s.query)
	var res driver.Result
	var err error
	if e, ok := s.stmt.(driver.StmtExecContext); ok {
		res, err = e.ExecContext(ctx, args)
	} else {
		res, err = s.stmt.Exec(values(args))
	}
	end(span, err)
	return res, err
}

func (s *sqlStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, span := s.conn.start(ctx, operation(s.query), s.query)
	var rows driver.Rows
	var err error
	if q, ok := s.stmt.(driver.StmtQueryContext); ok {
		rows, err = q.QueryContext(ctx, args)
	} else {
		rows, err = s.stmt.Query(values(args))
	}
	end(span, err)
	return rows, err
}

// values is what a driver without context methods takes (database/sql
// refuses named arguments before they get here).
func values(args []driver.NamedValue) []driver.Value {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

// operation is a statement's first keyword, upper-cased: the span's name.
func operation(query string) string {
	query = strings.TrimLeft(query, " \t\r\n(")
	i := strings.IndexAny(query, " \t\r\n(;")
	if i < 0 {
		i = len(query)
	}
	if i == 0 || i > 16 {
		return "SQL"
	}
	return strings.ToUpper(query[:i])
}

// truncate cuts a statement to maxStatement bytes, on a rune boundary.
func truncate(query string) string {
	if len(query) <= maxStatement {
		return query
	}
	cut := maxStatement
	for cut > 0 && !utf8.RuneStart(query[cut]) {
		cut--
	}
	return query[:cut] + "…"
}
