package server

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"clnd/internal/pgtest"
)

// The prepared-statement cache prepares a statement only the second time
// it sees it, never one over maxPreparedSQL, and never keeps more than
// maxPrepared (the least recently used is deallocated), so that clients
// inventing shapes cannot grow PostgreSQL's memory.
func TestStatementCacheIsBounded(t *testing.T) {
	if !pgtest.Available() {
		t.Skip("PostgreSQL not available")
	}
	db, err := sql.Open("postgres", pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one backend, whose pg_prepared_statements we can read
	ctx := context.Background()
	c := newStmtCache(db)
	run := func(q string) {
		var n int
		if err := c.queryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	backend := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run("SELECT 1")
	if c.prepared.Len() != 0 {
		t.Fatalf("prepared on first sight")
	}
	run("SELECT 1")
	if c.prepared.Len() != 1 {
		t.Fatalf("not prepared on second sight: %d", c.prepared.Len())
	}
	big := "SELECT 1 " + strings.Repeat(" ", maxPreparedSQL)
	run(big)
	run(big)
	if _, ok := c.prepared.Peek(big); ok {
		t.Fatalf("a statement over %d bytes was prepared", maxPreparedSQL)
	}
	for i := 0; i < 3*maxPrepared; i++ {
		q := fmt.Sprintf("SELECT %d", i)
		run(q)
		run(q)
	}
	if n := c.prepared.Len(); n > maxPrepared {
		t.Fatalf("%d statements kept, the bound is %d", n, maxPrepared)
	}
	if n := backend(); n > maxPrepared {
		t.Fatalf("the backend holds %d prepared statements, the bound is %d", n, maxPrepared)
	}
	c.close()
	if n := backend(); n != 0 {
		t.Fatalf("after close the backend holds %d prepared statements", n)
	}
}
