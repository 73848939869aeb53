package schema

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"clnd/internal/clock"
	"clnd/internal/ids"
)

// idMixin gives a type its prefixed ULID primary key ("ipl_01JD...").
// The table name is recorded with the prefix so that node(id:) can find
// the table without a global ID table; ent/ids_test.go checks it.
type idMixin struct {
	mixin.Schema
	prefix string
}

func withID(prefix, table string) idMixin {
	return idMixin{prefix: ids.Register(prefix, table)}
}

// Interceptors: see removedBeneath. Every type with an ID has it, so no
// type passes a read's removal.Include on to the edges beneath it.
func (idMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{removedBeneath}
}

func (m idMixin) Fields() []ent.Field {
	prefix := m.prefix
	return []ent.Field{
		field.String("id").
			Immutable().
			NotEmpty().
			DefaultFunc(func() string { return ids.New(prefix) }).
			Comment("The object's global ID: a type prefix and a ULID, such as \"ipl_01JD…\" for an IP license. Opaque; node(id:) finds it."),
	}
}

// createdAtMixin stamps created_at from the context's clock, never from
// time.Now, so that sandbox mode's test clock decides what "now" is.
type createdAtMixin struct{ mixin.Schema }

func (createdAtMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Immutable().
			Comment("When it was created, by clnd's clock (the test clock in sandbox mode).").
			Annotations(entgql.OrderField("CREATED_AT"), orderDoc("By creation time.")),
	}
}

func (createdAtMixin) Hooks() []ent.Hook {
	return []ent.Hook{stampCreatedAt}
}

func stampCreatedAt(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if !m.Op().Is(ent.OpCreate) {
			return next.Mutate(ctx, m)
		}
		if _, set := m.Field("created_at"); !set {
			c := clock.FromContext(ctx)
			if c == nil {
				return nil, fmt.Errorf("creating %s: context carries no clock", m.Type())
			}
			if err := m.SetField("created_at", c.Now()); err != nil {
				return nil, err
			}
		}
		return next.Mutate(ctx, m)
	})
}
