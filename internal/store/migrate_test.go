package store_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"clnd/ent/migrate"
	"clnd/internal/pgtest"
	"clnd/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestMigrationsMatchSchema applies the versioned PostgreSQL migrations to an
// empty database and asks ent what would still differ from ent/schema. Any
// difference means a schema change without a migration: the failure prints
// the SQL to put in the next migrations/NNNN_*.sql file.
func TestMigrationsMatchSchema(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckMigrated(ctx); err != nil {
		t.Fatal(err)
	}
	var diff strings.Builder
	if err := db.Client.Schema.WriteTo(ctx, &diff, migrate.WithDropIndex(true), migrate.WithDropColumn(true)); err != nil {
		t.Fatal(err)
	}
	pending := statements(diff.String())
	if len(pending) > 0 {
		if path := os.Getenv("CLND_WRITE_MIGRATION"); path != "" {
			if err := os.WriteFile(path, []byte(strings.Join(pending, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Fatalf("ent/schema differs from internal/store/migrations; add a migration with:\n%s", strings.Join(pending, "\n"))
	}
	// Migrating again is a no-op.
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// TestColumnCollations checks what TestMigrationsMatchSchema cannot: Atlas
// does not diff column collations, so the migrations must give every column
// the collation ent/schema declares (and no other) by hand.
func TestColumnCollations(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, table := range migrate.Tables {
		for _, c := range table.Columns {
			var got sql.NullString
			err := db.SQL.QueryRowContext(ctx, `SELECT collation_name FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, table.Name, c.Name).Scan(&got)
			if err != nil {
				t.Fatalf("%s.%s: %v", table.Name, c.Name, err)
			}
			if got.String != c.Collation {
				t.Errorf("%s.%s: collation %q in the database, %q in ent/schema", table.Name, c.Name, got.String, c.Collation)
			}
			if c.Collation != "" {
				declared++
			}
		}
	}
	if declared == 0 {
		t.Fatal("no column declares a collation: the ordering columns should be COLLATE \"C\"")
	}
}

// statements drops the BEGIN/COMMIT wrapper ent puts around its plan.
func statements(plan string) []string {
	var out []string
	for _, line := range strings.Split(plan, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "BEGIN;" || line == "COMMIT;" || strings.HasPrefix(line, "--") {
			continue
		}
		out = append(out, line)
	}
	return out
}

func TestServeRefusesUnmigratedPostgres(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckMigrated(ctx); err == nil {
		t.Fatal("an empty database must not pass CheckMigrated")
	}
}

// TestCheckMigratedSeesRiver: a database whose River tables lag behind this
// build's River does not pass CheckMigrated, as a missing clnd migration
// does not (clnd serve then asks for clnd migrate).
func TestCheckMigratedSeesRiver(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL.ExecContext(ctx, `DELETE FROM river_migration WHERE version = (SELECT max(version) FROM river_migration)`); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckMigrated(ctx); err == nil || !strings.Contains(err.Error(), "River") {
		t.Fatalf("CheckMigrated with River's last migration unapplied: %v", err)
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	if _, err := store.Open(context.Background(), "mysql://x"); err == nil {
		t.Fatal("want an error for an unsupported database URL")
	}
}

// A path with URI-special characters must open that very file.
func TestSQLitePathWithSpecialCharacters(t *testing.T) {
	dir := t.TempDir() + "/odd#dir?x=1%20"
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+dir+"/clnd.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/clnd.db"); err != nil {
		t.Fatalf("the database is not where it was asked to be: %v", err)
	}
}
