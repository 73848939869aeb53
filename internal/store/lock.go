package store

import (
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// ForUpdate is a query modifier that locks the selected rows until the
// transaction ends, for a check-then-write: SELECT ... FOR NO KEY UPDATE on
// PostgreSQL. (Plain FOR UPDATE would also block inserts of rows that
// reference the locked one, such as a reseller's new transaction, and
// deadlock with them.) SQLite has no row locks and needs none: its
// transactions begin IMMEDIATE and hold the database's write lock (see
// openSQLite). Use as q.Modify(store.ForUpdate).
func ForUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.For(sql.LockNoKeyUpdate)
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
