package server

import (
	"context"
	"crypto/sha256"
	"database/sql"

	lru "github.com/hashicorp/golang-lru/v2"
)

// stmtCache keeps the compiled reads' statements prepared. A compiled
// statement's text depends only on the document's shape (every value is a
// parameter), so a dashboard's few queries are planned once per connection
// instead of on every request; planning was most of PostgreSQL's work for a
// page of licenses.
//
// A prepared statement holds memory in every PostgreSQL backend that ran it
// (about 50 bytes per byte of SQL), so the cache is bounded three ways: only
// statements of at most maxPreparedSQL bytes, only once a statement text has
// been seen before (a dashboard repeats itself; a client inventing shapes
// does not), and at most maxPrepared of them, the least recently used closed
// (deallocated) to make room. Anything else runs unprepared, as before.
type stmtCache struct {
	db       *sql.DB
	prepared *lru.Cache[string, *sql.Stmt]
	seen     *lru.Cache[[32]byte, struct{}]
}

const (
	maxPrepared    = 32
	maxPreparedSQL = 8 << 10
)

func newStmtCache(db *sql.DB) *stmtCache {
	prepared, err := lru.NewWithEvict(maxPrepared, func(_ string, s *sql.Stmt) { _ = s.Close() })
	if err != nil {
		panic(err) // only for a size below 1
	}
	seen, err := lru.New[[32]byte, struct{}](4 * maxPrepared)
	if err != nil {
		panic(err)
	}
	return &stmtCache{db: db, prepared: prepared, seen: seen}
}

// queryRow runs query with args, prepared when the cache takes it.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if stmt, ok := c.prepared.Get(query); ok {
		return stmt.QueryRowContext(ctx, args...)
	}
	if len(query) <= maxPreparedSQL {
		sum := sha256.Sum256([]byte(query))
		if ok, _ := c.seen.ContainsOrAdd(sum, struct{}{}); ok {
			if stmt, err := c.db.PrepareContext(ctx, query); err == nil {
				if prior, present, _ := c.prepared.PeekOrAdd(query, stmt); present {
					_ = stmt.Close() // another request prepared it meanwhile
					stmt = prior
				}
				return stmt.QueryRowContext(ctx, args...)
			}
		}
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// close deallocates every prepared statement.
func (c *stmtCache) close() { c.prepared.Purge() }
