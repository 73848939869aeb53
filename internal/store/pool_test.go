package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"clnd/internal/pgtest"
	"clnd/internal/store"
)

// The pool keeps an idle connection for every one it may open: after a
// burst that used them all, none is closed, so the next burst opens none.
func TestPoolKeepsItsConnectionsIdle(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url := "sqlite://" + filepath.Join(t.TempDir(), "pool.db")
			if backend == "postgres" {
				url = pgtest.DSN(t)
			}
			ctx := context.Background()
			db, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			max := db.SQL.Stats().MaxOpenConnections
			if max < 8 {
				t.Fatalf("the pool may open %d connections", max)
			}
			conns := make([]*sql.Conn, max)
			for i := range conns {
				if conns[i], err = db.SQL.Conn(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range conns {
				c.Close()
			}
			if st := db.SQL.Stats(); st.Idle != max || st.MaxIdleClosed != 0 {
				t.Fatalf("after a burst of %d connections: %d idle, %d closed for the idle limit", max, st.Idle, st.MaxIdleClosed)
			}
		})
	}
}
