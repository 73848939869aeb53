package schema

import (
	"context"
	"errors"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"

	"clnd/ent/intercept"
	"clnd/internal/viewer"
)

// Tenant isolation lives here and only here: every read of a tenant-owned
// table is filtered to the viewer's reseller, and every write is confined to
// it. Resolvers cannot forget it, and another tenant's row is simply not
// found, exactly like a row that does not exist.

// ErrNoViewer is returned when tenant data is touched without a caller; the
// API layer has already answered UNAUTHENTICATED for requests, so this
// signals a programming error (a background job without viewer.SystemContext).
var ErrNoViewer = errors.New("privacy: tenant data accessed without a viewer")

// ErrReadOnly is returned when a viewer that may only read tries to write.
var ErrReadOnly = errors.New("privacy: viewer may not write")

// tenantColumn is the column a viewer's reseller ID is matched against.
func tenantFilter(column string) ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		v := viewer.FromContext(ctx)
		switch {
		case v.SeesAllTenants():
			return nil
		case v.Role == viewer.Reseller && v.ResellerID != "":
			q.WhereP(sql.FieldEQ(column, v.ResellerID))
			return nil
		}
		return ErrNoViewer
	})
}

// tenantGuard confines a reseller's writes to its own rows: creates are
// stamped with its reseller ID, updates and deletes only match its rows.
func tenantGuard(column string) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v := viewer.FromContext(ctx)
			switch {
			case v.SeesAllTenants():
				return next.Mutate(ctx, m)
			case v.Role != viewer.Reseller || v.ResellerID == "":
				return nil, ErrNoViewer
			case !v.CanWrite():
				return nil, ErrReadOnly
			}
			if m.Op().Is(ent.OpCreate) {
				if column != "reseller_id" {
					return nil, ErrReadOnly // a reseller cannot create another reseller
				}
				if err := m.SetField(column, v.ResellerID); err != nil {
					return nil, err
				}
				return next.Mutate(ctx, m)
			}
			w, ok := m.(interface{ WhereP(...func(*sql.Selector)) })
			if !ok {
				return nil, ErrReadOnly
			}
			w.WhereP(sql.FieldEQ(column, v.ResellerID))
			return next.Mutate(ctx, m)
		})
	}
}

// Interceptors filters every read of a tenant-owned type.
func (tenantMixin) Interceptors() []ent.Interceptor { return ownedByReseller.interceptors() }

// Annotations declare the rule for the read compiler (see Tenancy).
func (tenantMixin) Annotations() []schema.Annotation { return ownedByReseller.annotations() }

// Hooks confines every write of a tenant-owned type.
func (tenantMixin) Hooks() []ent.Hook { return ownedByReseller.hooks() }

// operatorWrites lets everyone read a type (the catalogue) but only an
// operator or clnd itself change it.
func operatorWrites(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if !viewer.FromContext(ctx).SeesAllTenants() {
			return nil, ErrReadOnly
		}
		return next.Mutate(ctx, m)
	})
}

// systemOnly keeps a type (tokens, sessions, idempotency records) out of
// every request's reach: only clnd's own code, under viewer.SystemContext or
// as an operator, reads or writes it.
func systemOnly() ent.Interceptor {
	return intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
		if !viewer.FromContext(ctx).SeesAllTenants() {
			return ErrNoViewer
		}
		return nil
	})
}
