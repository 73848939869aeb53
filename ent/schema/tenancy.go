package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
)

// Tenancy declares who may read a type's rows. It is the one source of tenant
// isolation: the interceptors and hooks of privacy.go are built from it, and
// entc writes it into the read compiler's table (internal/sqlgraph), which
// applies the same rule in the SQL it compiles. A type exposed to GraphQL
// without a Tenancy fails code generation.
type Tenancy struct {
	// Column holds the owning reseller's ID: a reseller sees the rows where
	// it equals its own ID; operators see every row.
	Column string `json:",omitempty"`
	// Public rows (the catalogue) are read by everyone, written by operators.
	Public bool `json:",omitempty"`
	// SystemOnly rows are read and written only by operators and clnd itself.
	SystemOnly bool `json:",omitempty"`
}

// Name implements schema.Annotation.
func (Tenancy) Name() string { return "Tenancy" }

var (
	// ownedByReseller is every tenant-owned type (tenantMixin).
	ownedByReseller = Tenancy{Column: "reseller_id"}
	// resellerItself scopes the resellers table: a reseller sees its own row.
	resellerItself = Tenancy{Column: "id"}
	// catalogue is products, datacenters and settings.
	catalogue = Tenancy{Public: true}
	// systemRows is tokens, sessions, login failures and idempotency records.
	systemRows = Tenancy{SystemOnly: true}
)

func (t Tenancy) annotations() []schema.Annotation { return []schema.Annotation{t} }

// interceptors filter every read of the type by the declared rule.
func (t Tenancy) interceptors() []ent.Interceptor {
	switch {
	case t.SystemOnly:
		return []ent.Interceptor{systemOnly()}
	case t.Column != "":
		return []ent.Interceptor{tenantFilter(t.Column)}
	}
	return nil
}

// hooks confine every write of the type by the declared rule.
func (t Tenancy) hooks() []ent.Hook {
	switch {
	case t.Public, t.SystemOnly:
		return []ent.Hook{operatorWrites}
	case t.Column != "":
		return []ent.Hook{tenantGuard(t.Column)}
	}
	return nil
}
