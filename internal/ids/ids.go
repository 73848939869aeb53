// Package ids makes clnd's global IDs: a type prefix, an underscore and a
// ULID ("ipl_01JD3Q..."). The prefix tells node(id:) which table to read, so
// no global ID table is needed; the ULID's randomness keeps IDs unguessable.
package ids

import (
	"crypto/rand"
	"errors"
	"strings"
	"sync"

	"github.com/oklog/ulid/v2"
)

// Prefixes of every node type, mapped to the ent table that holds it.
// A test in ent/ keeps this map in step with the schema.
var tables = map[string]string{}

// Register records a prefix for a table; called by the ent schema mixin.
func Register(prefix, table string) string {
	if old, ok := tables[prefix]; ok && old != table {
		panic("ids: prefix " + prefix + " used by both " + old + " and " + table)
	}
	tables[prefix] = table
	return prefix
}

// ErrMalformed means the string cannot be a clnd ID of any type.
var ErrMalformed = errors.New("malformed ID")

var (
	entropyMu sync.Mutex
	// Monotonic entropy keeps IDs made in the same millisecond increasing, so
	// that ordering by ID is creation order within one process.
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a fresh ID with the prefix. The ULID's time part comes from the
// wall clock, not the business clock: it only orders IDs, it is not a date.
func New(prefix string) string {
	entropyMu.Lock()
	defer entropyMu.Unlock()
	return prefix + "_" + ulid.MustNew(ulid.Now(), entropy).String()
}

// Table returns the table of a well-formed ID.
func Table(id string) (string, error) {
	prefix, rest, ok := strings.Cut(id, "_")
	if !ok {
		return "", ErrMalformed
	}
	table, known := tables[prefix]
	if !known {
		return "", ErrMalformed
	}
	if _, err := ulid.ParseStrict(rest); err != nil {
		return "", ErrMalformed
	}
	return table, nil
}

// Prefixes returns a copy of the prefix → table map.
func Prefixes() map[string]string {
	out := make(map[string]string, len(tables))
	for p, t := range tables {
		out[p] = t
	}
	return out
}
