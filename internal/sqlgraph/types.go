package sqlgraph

// Kind is how a column's value is written as JSON.
type Kind int

// Column kinds.
const (
	KindUnsupported Kind = iota
	KindString
	KindInt
	KindBool
	KindTime  // the API's Time: RFC 3339 in UTC, fraction trimmed
	KindMoney // the API's Money: integer cents as a decimal string
)

// Type is one ent type exposed to GraphQL: its table, its columns by GraphQL
// field name, its entgql order fields and its edges.
type Type struct {
	Name    string
	Table   string
	Tenancy Tenancy
	// RemovedColumn is ent/schema.Removal's column: its rows are live while
	// it is NULL. "" for a type whose rows are deleted.
	RemovedColumn string
	Columns       map[string]Column
	OrderFields   map[string]Column
	Edges         map[string]Edge
}

// Tenancy is ent/schema.Tenancy as the generator read it: the one
// declaration of who may read a type's rows.
type Tenancy struct {
	Column     string
	Public     bool
	SystemOnly bool
}

// Column is a table column behind a GraphQL field.
type Column struct {
	Name     string
	Kind     Kind
	Nullable bool
	// ZeroIfNull: an optional field that is not nillable reads a NULL as
	// its Go zero value ("", 0, false), as ent's scan does.
	ZeroIfNull bool
}

// Edge joins a type to another: LocalColumn of this table equals
// RemoteColumn of the target's.
type Edge struct {
	Target       string
	Unique       bool
	Connection   bool
	LocalColumn  string
	RemoteColumn string
	// History (ent/schema.History): the edge reaches removed rows too.
	History bool
}
