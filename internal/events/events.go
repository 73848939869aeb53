// Package events is clnd's durable notification channel: the append-only
// event log and the signed webhooks that deliver it (subscriptions stay the
// live channel, internal/live).
//
// Emit writes an event in the transaction of the change it describes, and in
// that same transaction one delivery row per matching webhook endpoint and one
// River job per delivery (queue.go). So an event exists exactly when its
// change committed, and every delivery it owes survives a crash: River works
// the jobs on whichever instance is up (deliver.go).
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/webhookendpoint"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/viewer"
)

// The event types. docs/events.md describes each one's object.
const (
	LicenseAdded            = "license.added"
	LicenseRemoved          = "license.removed"
	LicenseStale            = "license.stale"
	BackupActivated         = "backup.activated"
	BackupDeactivated       = "backup.deactivated"
	BackupResized           = "backup.resized"
	ServerAccountCreated    = "server_account.created"
	ServerAccountUpdated    = "server_account.updated"
	ServerAccountRemoved    = "server_account.removed"
	ServerRegistered        = "server.registered"
	InvoiceCreated          = "invoice.created"
	PaymentSucceeded        = "payment.succeeded"
	PaymentFailed           = "payment.failed"
	BalanceLow              = "balance.low"
	ResellerPastDue         = "reseller.past_due"
	RefundCreated           = "refund.created"
	WebhookEndpointDisabled = "webhook_endpoint.disabled"
)

// Types lists every event type, in the order docs/events.md describes them.
var Types = []string{
	LicenseAdded, LicenseRemoved, LicenseStale,
	BackupActivated, BackupDeactivated, BackupResized,
	ServerAccountCreated, ServerAccountUpdated, ServerAccountRemoved, ServerRegistered,
	InvoiceCreated, PaymentSucceeded, PaymentFailed, BalanceLow, ResellerPastDue, RefundCreated,
	WebhookEndpointDisabled,
}

// AllTypes is the endpoint subscription that receives every type.
const AllTypes = "*"

// Known reports whether t is an event type.
func Known(t string) bool { return slices.Contains(Types, t) }

// Emit records that typ happened to object, owned by resellerID ("" for an
// event of no reseller: an operator endpoint disabled), in tx, and queues
// its deliveries to the endpoints that want it: the reseller's own and the
// operators' global ones. object is what the API shows of it (objects.go):
// it is marshalled now, so the event keeps the object as it was.
func Emit(ctx context.Context, tx *ent.Tx, typ, resellerID string, object Object) (*ent.Event, error) {
	evs, err := EmitMany(ctx, tx, []Pending{{Type: typ, ResellerID: resellerID, Object: object}})
	if err != nil {
		return nil, err
	}
	return evs[0], nil
}

// rowsPerStatement bounds a bulk insert: a bulk removal of 1,000 licenses
// with 16 endpoints owes 16,000 deliveries, past what one statement may
// carry (SQLite: 32,766 parameters; PostgreSQL: 65,535).
const rowsPerStatement = 500

// Pending is one event for EmitMany.
type Pending struct {
	Type       string
	ResellerID string
	Object     Object
}

// EmitMany is Emit for several events of one transaction (a bulk removal,
// a stale sweep's batch) in a fixed number of statements, whatever their
// number: the events, the endpoints' lookup, the River jobs and the
// deliveries are each written at once. It returns the events in order.
func EmitMany(ctx context.Context, tx *ent.Tx, pending []Pending) ([]*ent.Event, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	now := clock.Now(ctx)
	sys := viewer.SystemContext(ctx)
	creates := make([]*ent.EventCreate, len(pending))
	owners := []string{""}
	for i, p := range pending {
		if !Known(p.Type) {
			return nil, fmt.Errorf("events: unknown event type %q", p.Type)
		}
		body, err := json.Marshal(p.Object)
		if err != nil {
			return nil, fmt.Errorf("events: marshalling the %s object: %w", p.Type, err)
		}
		creates[i] = tx.Event.Create().
			SetID(ids.New("evt")).
			SetType(p.Type).
			SetResellerID(p.ResellerID).
			SetObjectID(p.Object.ObjectID()).
			SetObject(body).
			SetCreatedAt(now)
		if !slices.Contains(owners, p.ResellerID) {
			owners = append(owners, p.ResellerID)
		}
	}
	evs := make([]*ent.Event, 0, len(creates))
	for part := range slices.Chunk(creates, rowsPerStatement) {
		saved, err := tx.Event.CreateBulk(part...).Save(sys)
		if err != nil {
			return nil, err
		}
		evs = append(evs, saved...)
	}
	endpoints, err := tx.WebhookEndpoint.Query().
		Where(webhookendpoint.Enabled(true), webhookendpoint.ResellerIDIn(owners...)).
		Order(webhookendpoint.ByID()).
		// KEY SHARE: an endpoint being deleted is waited for and skipped,
		// instead of failing this change on its delivery's foreign key.
		Modify(func(s *sql.Selector) {
			if s.Dialect() == dialect.Postgres {
				s.For(sql.LockKeyShare)
			}
		}).
		All(sys)
	if err != nil || len(endpoints) == 0 {
		return evs, err
	}
	var owed []delivery
	for _, ev := range evs {
		for _, e := range endpoints {
			if (e.ResellerID == "" || e.ResellerID == ev.ResellerID) &&
				(slices.Contains(e.Events, ev.Type) || slices.Contains(e.Events, AllTypes)) {
				owed = append(owed, delivery{event: ev, endpoint: e})
			}
		}
	}
	if _, err := enqueue(sys, tx, owed); err != nil {
		return nil, err
	}
	return evs, nil
}

// Object is what an event carries: the object as the API shows it.
type Object interface {
	ObjectID() string
}
