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
