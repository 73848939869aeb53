package store

import (
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// ForUpdate is a query modifier that locks the selected rows until the
// transaction ends: SELECT ... FOR UPDATE on PostgreSQL. SQLite has no row
// locks and needs none: its transactions begin IMMEDIATE and hold the
// database's write lock (see openSQLite). Use as q.Modify(store.ForUpdate).
func ForUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// ForShare locks the selected rows against change until the transaction
// ends, without blocking other readers: SELECT ... FOR SHARE on PostgreSQL.
// A price read this way cannot change under a license being added at it.
func ForShare(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForShare()
	}
}
