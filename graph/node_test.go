package graph

import (
	"testing"

	"clnd/ent/migrate"
	"clnd/internal/ids"
)

// Every node table must have an ID prefix, and every registered prefix must
// name a real table, or node(id:) cannot find objects of that type.
func TestEveryNodeTableHasAPrefix(t *testing.T) {
	tables := map[string]bool{}
	for _, tbl := range migrate.Tables {
		tables[tbl.Name] = true
	}
	prefixed := map[string]bool{}
	for prefix, table := range ids.Prefixes() {
		if !tables[table] {
			t.Errorf("prefix %q maps to unknown table %q", prefix, table)
		}
		prefixed[table] = true
		if got, err := ids.Table(ids.New(prefix)); err != nil || got != table {
			t.Errorf("a new %q ID resolves to %q, %v", prefix, got, err)
		}
	}
	for table := range nodeTables {
		if !prefixed[table] {
			t.Errorf("node table %q has no ID prefix", table)
		}
	}
}
