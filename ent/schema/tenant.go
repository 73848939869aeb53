package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// tenantMixin marks a type as owned by one reseller. Every tenant-owned table
// carries reseller_id, even where it could be reached through a parent, so that
// isolation is one predicate on one column (see privacy.go), not a join per type.
type tenantMixin struct{ mixin.Schema }

func (tenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("reseller_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}
