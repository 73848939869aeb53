// Package graph holds clnd's GraphQL resolvers. They are thin: a query is one
// ent query or Paginate call, a mutation calls one function in internal/<domain>
// that owns the rule, the transaction's work and the error.
package graph

import (
	"context"
	"log/slog"
	"time"

	"clnd/ent"
	"clnd/internal/accounts"
	"clnd/internal/apperr"
	"clnd/internal/checkin"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/invoicepdf"
	"clnd/internal/licensing"
	"clnd/internal/live"
	"clnd/internal/sealed"
)

// Resolver carries what every resolver needs.
type Resolver struct {
	Client *ent.Client
	// TestClock is sandbox mode's clock; nil outside sandbox mode.
	TestClock *clock.Frozen
	// StaleAfter is the check-in window after which a license is STALE.
	StaleAfter time.Duration
	// Accounts owns registration, logins and API tokens.
	Accounts *accounts.Service
	// CheckIns records check-ins in batches; Hub delivers them to subscribers.
	CheckIns *checkin.Service
	Hub      *live.Hub
	// CheckInInterval is how often servers are asked to check in.
	CheckInInterval time.Duration
	// BackupLinks signs backups' management links.
	BackupLinks licensing.BackupLinks
	// InvoiceLinks signs invoices' download links.
	InvoiceLinks invoicepdf.Links
	// BackupSizes bound a backup's size in GB.
	BackupMinGB, BackupMaxGB int
	// CLNSecrets seals the CLN API secrets createCLNSecret makes; without a
	// key (the zero Keyring) it refuses with clnsecret.ErrDisabled.
	CLNSecrets sealed.Keyring
	// RecheckEvery is how often a live subscription checks that its
	// credential still holds; 30 s when zero.
	RecheckEvery time.Duration
	// NotifyRevoked, when set (PostgreSQL), tells the other instances inside
	// tx that a credential was revoked in it (live.NotifyRevoked).
	NotifyRevoked func(ctx context.Context, tx *ent.Tx) error
	// ClockMoved is called after advanceClock commits (the billing
	// scheduler checks whether a month has ended).
	ClockMoved func()
	// Webhooks manages webhook endpoints (internal/events).
	Webhooks events.Webhooks
	// Log is for errors that do not end a request (a reseller a billing run skipped).
	Log *slog.Logger
}

func (r *Resolver) recheckEvery() time.Duration {
	if r.RecheckEvery > 0 {
		return r.RecheckEvery
	}
	return 30 * time.Second
}

// revoked makes every open subscription, on this instance and on the others,
// recheck its credential as soon as tx, which revokes one, commits.
func (r *Resolver) revoked(ctx context.Context, tx *ent.Tx) error {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil && r.Hub != nil {
				r.Hub.Revoke()
			}
			return err
		})
	})
	if r.NotifyRevoked != nil {
		return r.NotifyRevoked(ctx, tx)
	}
	return nil
}

// db is the client to read with: the mutation's transaction when there is
// one (so a payload sees what the mutation wrote), else the shared client.
func (r *Resolver) db(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.Client
}

// Sandbox reports whether clnd runs in sandbox mode.
func (r *Resolver) Sandbox() bool { return r.TestClock != nil }

// tx is the transaction the server opened for the mutation (internal/server/transaction.go).
func tx(ctx context.Context) (*ent.Tx, error) {
	t := ent.TxFromContext(ctx)
	if t == nil {
		return nil, apperr.New(apperr.Internal, "mutation outside a transaction")
	}
	return t, nil
}
