package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"clnd/ent/migrate"
)

// PostgreSQL is migrated by the versioned SQL files in migrations/, applied in
// name order and recorded in schema_migrations. SQLite, the embedded dev
// database, is brought to the ent schema automatically.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock that keeps two instances from migrating at once.
const migrationLock = 7_235_641_001

// sqliteBackfills carry over to SQLite the data changes of the PostgreSQL
// migrations that ent's automatic migration cannot make. Each is a no-op
// once applied, so they run at every start.
var sqliteBackfills = []string{
	// 0004_removed_rows: every backup that existed before is live.
	`UPDATE backups SET live_license_id = license_id WHERE removed_at IS NULL AND live_license_id IS NULL`,
}

// Migration is one versioned SQL file.
type Migration struct {
	Version string
	SQL     string
}

// Migrations lists the embedded PostgreSQL migrations in order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, name := range names {
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		out = append(out, Migration{Version: version, SQL: string(body)})
	}
	return out, nil
}

// Migrate brings the database to the current schema. On PostgreSQL it applies
// the pending versioned migrations, each in its own transaction, and reports
// each one through progress; on SQLite it lets ent create what is missing.
func (db *DB) Migrate(ctx context.Context, progress func(string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	if !db.Postgres() {
		if err := db.Client.Schema.Create(ctx, migrate.WithDropIndex(true)); err != nil {
			return fmt.Errorf("creating the SQLite schema: %w", err)
		}
		for _, q := range sqliteBackfills {
			if _, err := db.SQL.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("bringing SQLite data to the schema: %w", err)
			}
		}
		if err := migrateRiver(ctx, riversqlite.New(db.SQL)); err != nil {
			return err
		}
		progress("SQLite schema is up to date")
		return nil
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	all, err := Migrations()
	if err != nil {
		return err
	}
	pending := 0
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		pending++
		progress("applying " + m.Version)
		if err := apply(ctx, conn, m); err != nil {
			return err
		}
	}
	// River's own tables (webhook delivery jobs), under the same lock.
	if err := migrateRiver(ctx, riverdatabasesql.New(db.SQL)); err != nil {
		return err
	}
	progress(fmt.Sprintf("PostgreSQL schema is up to date (%d migrations, %d applied now)", len(all), pending))
	return nil
}

// migrateRiver brings River's tables (jobs, leader, queues) to what this
// build of River needs; River records its own versions in river_migration.
func migrateRiver(ctx context.Context, driver riverdriver.Driver[*sql.Tx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	return nil
}

func apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version); err != nil {
		return fmt.Errorf("recording migration %s: %w", m.Version, err)
	}
	return tx.Commit()
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func appliedVersions(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// ErrNotMigrated means the PostgreSQL schema is behind this binary.
var ErrNotMigrated = errors.New("the database schema is not up to date: run `clnd migrate` first")

// CheckMigrated verifies that every embedded migration has been applied, so
// that `serve` never runs against a schema it does not know.
func (db *DB) CheckMigrated(ctx context.Context) error {
	if !db.Postgres() {
		return nil
	}
	applied, err := appliedVersions(ctx, db.SQL)
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNotMigrated, err)
	}
	all, err := Migrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		if !applied[m.Version] {
			return fmt.Errorf("%w (missing %s)", ErrNotMigrated, m.Version)
		}
	}
	// River's tables too: a newer River needing a migration would otherwise
	// fail the first change that writes an event.
	m, err := rivermigrate.New(riverdatabasesql.New(db.SQL), nil)
	if err != nil {
		return err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w (River: %v)", ErrNotMigrated, err)
	}
	if !res.OK {
		return fmt.Errorf("%w (River: %s)", ErrNotMigrated, strings.Join(res.Messages, "; "))
	}
	return nil
}
