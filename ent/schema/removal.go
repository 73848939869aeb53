package schema

import (
	"context"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"clnd/ent/intercept"
	"clnd/internal/removal"
)

// Removal declares that a type's rows are removed by stamping a column, not
// deleted, so that the invoices that billed them can still point at them.
// It is the one statement of the rule "removed rows are live nowhere": the
// interceptor below hides them from every ent read, and entc writes it into
// the read compiler's table (internal/sqlgraph), which hides them in the SQL
// it compiles. Two reads see them: one that names a row on purpose
// (node(id:), nodes(ids:); removal.Include) and an edge declared History.
type Removal struct {
	// Column holds when the row was removed; NULL while it is live.
	Column string `json:",omitempty"`
}

// Name implements schema.Annotation.
func (Removal) Name() string { return "Removal" }

// History marks an edge that records the past (an invoice item's license,
// backup or server account): it reaches the row it names even after that row
// was removed. Every other edge, list and rule sees live rows only.
type History struct{}

// Name implements schema.Annotation.
func (History) Name() string { return "History" }

// removedAtMixin makes a type's removal a timestamp (from the context's
// clock, set by the domain code that removes) and hides removed rows.
type removedAtMixin struct{ mixin.Schema }

const removedAtColumn = "removed_at"

func (removedAtMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time(removedAtColumn).
			Optional().
			Nillable().
			Comment("When it was removed; null while it is live. Lists show live rows only; invoice items, Backup.license and node(id:) still reach removed ones (docs/schema.md, Removed rows).").
			Annotations(entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField)),
	}
}

func (removedAtMixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Removal{Column: removedAtColumn}}
}

func (removedAtMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{hideRemoved(removedAtColumn)}
}

// liveOnly is the condition of a unique index that only live rows must
// satisfy: an address, login or license is free again once its holder is removed.
func liveOnly() schema.Annotation { return entsql.IndexWhere(removedAtColumn + " IS NULL") }

// hideRemoved filters every read of the type, traversals through it
// included, to live rows unless the read was told to include removed ones.
func hideRemoved(column string) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if !removal.Included(ctx) {
			q.WhereP(sql.FieldIsNull(column))
		}
		return nil
	})
}

// removedBeneath ends removal.Include at the read it was given to: the
// edges that read loads beneath its rows see live rows only.
var removedBeneath = ent.InterceptFunc(func(next ent.Querier) ent.Querier {
	return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
		return next.Query(removal.Beneath(ctx), q)
	})
})
