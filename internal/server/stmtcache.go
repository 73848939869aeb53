package server

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the compiled reads' statements prepared. A compiled
// statement's text depends only on the document's shape (every value is a
// parameter), so a dashboard's few queries are planned once per connection
// instead of on every request; planning was most of PostgreSQL's work for a
// page of licenses. The cache holds at most max statements and then stops
// adding: a client sending endless new shapes gets unprepared statements,
// never unbounded memory.
type stmtCache struct {
	db  *sql.DB
	max int

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, max int) *stmtCache {
	return &stmtCache{db: db, max: max, stmts: map[string]*sql.Stmt{}}
}

// queryRow runs query with args, prepared when the cache has room.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	c.mu.Lock()
	stmt, ok := c.stmts[query]
	full := len(c.stmts) >= c.max
	c.mu.Unlock()
	if !ok && !full {
		prepared, err := c.db.PrepareContext(ctx, query)
		if err == nil {
			c.mu.Lock()
			if existing, raced := c.stmts[query]; raced {
				_ = prepared.Close()
				stmt = existing
			} else if len(c.stmts) < c.max {
				c.stmts[query] = prepared
				stmt = prepared
			} else {
				_ = prepared.Close()
			}
			c.mu.Unlock()
		}
	}
	if stmt == nil {
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return stmt.QueryRowContext(ctx, args...)
}

// close releases every prepared statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		_ = s.Close()
		delete(c.stmts, q)
	}
}
