// Package store opens clnd's database: the embedded SQLite file for
// development and demos, or PostgreSQL in production.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"    // PostgreSQL driver
	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"

	"clnd/ent"
	_ "clnd/ent/runtime" // schema hooks and interceptors, including tenant isolation
	"clnd/internal/tracing"
)

// DefaultURL is the embedded database used when none is configured.
const DefaultURL = "sqlite://./data/clnd.db"

// DB is an open database.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	URL     string
}

// Postgres reports whether the database is PostgreSQL.
func (db *DB) Postgres() bool { return db.Dialect == dialect.Postgres }

// Close closes the client and its pool.
func (db *DB) Close() error { return db.Client.Close() }

// Pool sizes. An idle connection is kept for every one the pool may open:
// under steady load a smaller idle limit closes connections that the next
// burst opens again (a PostgreSQL backend start costs more than most reads).
// PostgreSQL's idle connections still close after poolMaxIdleTime without use.
const (
	postgresPoolSize = 32
	sqlitePoolSize   = 8
	poolMaxIdleTime  = 5 * time.Minute
)

// Option changes how Open connects.
type Option func(*options)

type options struct {
	wrapConnector func(driver.Connector) driver.Connector
}

// WrapPostgres puts wrap around lib/pq's connector, so that every connection
// of the pool goes through it (the benchmark counts statements this way).
// Without it the pool talks to lib/pq directly.
func WrapPostgres(wrap func(driver.Connector) driver.Connector) Option {
	return func(o *options) { o.wrapConnector = wrap }
}

// Open connects to url: "sqlite://<path>" (the file and its folder are created
// on first use) or "postgres://..." (lib/pq). It does not migrate.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		return openSQLite(ctx, url)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url, o)
	}
	return nil, fmt.Errorf("database URL %q: want sqlite://<path> or postgres://...", redact(url))
}

func openSQLite(ctx context.Context, url string) (*DB, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	if path == "" {
		return nil, fmt.Errorf("database URL %q names no file", url)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the database folder: %w", err)
	}
	// WAL lets readers run beside the writer; BEGIN IMMEDIATE makes every
	// transaction take the write lock up front, so two writers queue on the
	// busy timeout instead of deadlocking on a lock upgrade.
	dsn := "file:" + uriPath.Replace(path) + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if tracing.Enabled() {
		// The same driver and DSN, through a connector that traces.
		drv := sqlDB.Driver()
		sqlDB.Close()
		sqlDB = sql.OpenDB(tracing.SQL(tracing.DSNConnector(drv, dsn), "sqlite"))
	}
	sqlDB.SetMaxOpenConns(sqlitePoolSize)
	sqlDB.SetMaxIdleConns(sqlitePoolSize)
	if err := ping(ctx, sqlDB); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	drv := entsql.OpenDB(dialect.SQLite, sqlDB)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dialect.SQLite, URL: url}, nil
}

// uriPath escapes what SQLite's file: URIs treat specially, so a path with
// '#' or '?' in it opens that file and not a truncated name.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func openPostgres(ctx context.Context, url string, o options) (*DB, error) {
	dsn := withDefaultParameter(withBinaryParameters(url), "connect_timeout", connectTimeout)
	if _, err := pq.NewConnector(dsn); err != nil {
		return nil, fmt.Errorf("PostgreSQL URL %s: %w", redact(url), err)
	}
	// Its connections give up on a database that stops answering once
	// their work's context has ended (expire.go).
	var connector driver.Connector = &expiringConnector{dsn: dsn}
	if o.wrapConnector != nil {
		connector = o.wrapConnector(connector)
	}
	if tracing.Enabled() {
		connector = tracing.SQL(connector, "postgresql")
	}
	sqlDB := sql.OpenDB(connector)
	sqlDB.SetMaxOpenConns(postgresPoolSize)
	sqlDB.SetMaxIdleConns(postgresPoolSize)
	sqlDB.SetConnMaxIdleTime(poolMaxIdleTime)
	if err := ping(ctx, sqlDB); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", redact(url), err)
	}
	drv := entsql.OpenDB(dialect.Postgres, sqlDB)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dialect.Postgres, URL: url}, nil
}

func ping(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// withBinaryParameters asks lib/pq to send parameterised statements in one
// round trip (Parse, Bind and Execute together) instead of preparing first.
func withBinaryParameters(url string) string {
	if strings.Contains(url, "binary_parameters=") {
		return url
	}
	if strings.Contains(url, "?") {
		return url + "&binary_parameters=yes"
	}
	return url + "?binary_parameters=yes"
}

// connectTimeout bounds, in seconds, the opening of one connection (TCP and
// the start-up handshake) unless the URL sets connect_timeout: without it
// lib/pq waits as long as the operating system does (minutes, for a host
// that has gone silent), and every request would wait with it instead of
// answering UNAVAILABLE.
const connectTimeout = "10"

// withDefaultParameter adds key=value to a URL's query unless it is there.
func withDefaultParameter(url, key, value string) string {
	if strings.Contains(url, key+"=") {
		return url
	}
	if strings.Contains(url, "?") {
		return url + "&" + key + "=" + value
	}
	return url + "?" + key + "=" + value
}

// redact hides a password in a database URL for logs and errors.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	creds, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	user, _, _ := strings.Cut(creds, ":")
	return scheme + "://" + user + ":***@" + host
}

// Redacted is the URL safe to print.
func (db *DB) Redacted() string { return redact(db.URL) }
