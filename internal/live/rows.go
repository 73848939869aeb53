package live

import (
	"context"
	"sync"
	"time"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/ent/server"
	"clnd/internal/viewer"
)

// loadTimeout bounds the one load a batch's subscribers wait for.
const loadTimeout = 10 * time.Second

// batch is what the events published together share: the rows behind them,
// loaded the first time any subscriber's selection asks for one and then
// read by every other subscriber, so a subscription that selects `license`
// costs a query per batch, not one per subscriber and event.
type batch struct {
	events []Event
	hub    *Hub

	renderMu   sync.Mutex
	renderings map[renderKey]*rendering

	licensesOnce sync.Once
	licenses     map[string]*ent.IPLicense
	licensesErr  error

	serversOnce sync.Once
	servers     map[string]*ent.Server
	serversErr  error
}

// License is the IP license the event is about, or nil for a server's
// check-in or a license removed since. It is loaded with those of every event
// published with this one, together with its product, backup and reseller,
// so that subscribers selecting those read them without a query of their
// own. The result is shared: callers must not modify it.
func (e *Event) License(ctx context.Context, client *ent.Client) (*ent.IPLicense, error) {
	if e.LicenseID == "" {
		return nil, nil
	}
	b := e.shared()
	b.licensesOnce.Do(func() {
		ctx, cancel := loadContext(ctx)
		defer cancel()
		var ids []string
		for _, ev := range b.events {
			if ev.LicenseID != "" {
				ids = append(ids, ev.LicenseID)
			}
		}
		var rows []*ent.IPLicense
		rows, b.licensesErr = client.IPLicense.Query().Where(iplicense.IDIn(ids...)).
			WithProduct().WithBackup().WithReseller().All(ctx)
		b.licenses = make(map[string]*ent.IPLicense, len(rows))
		for _, l := range rows {
			b.licenses[l.ID] = l
		}
	})
	if b.licensesErr != nil {
		return nil, b.licensesErr
	}
	l := b.licenses[e.LicenseID]
	if l == nil || l.ResellerID != e.ResellerID {
		// Removed since it checked in. (A row of another tenant than the
		// event's is never handed out: only the event's tenant receives it.)
		return nil, nil
	}
	return l, nil
}

// Server is the registered server the event is about, or nil; loaded like
// License, with its reseller, server account and activation key.
func (e *Event) Server(ctx context.Context, client *ent.Client) (*ent.Server, error) {
	if e.ServerID == "" {
		return nil, nil
	}
	b := e.shared()
	b.serversOnce.Do(func() {
		ctx, cancel := loadContext(ctx)
		defer cancel()
		var ids []string
		for _, ev := range b.events {
			if ev.ServerID != "" {
				ids = append(ids, ev.ServerID)
			}
		}
		var rows []*ent.Server
		rows, b.serversErr = client.Server.Query().Where(server.IDIn(ids...)).
			WithReseller().WithServerAccount().WithActivationKey().All(ctx)
		b.servers = make(map[string]*ent.Server, len(rows))
		for _, s := range rows {
			b.servers[s.ID] = s
		}
	})
	if b.serversErr != nil {
		return nil, b.serversErr
	}
	s := b.servers[e.ServerID]
	if s == nil || s.ResellerID != e.ResellerID {
		return nil, nil
	}
	return s, nil
}

// shared is the event's batch; an event that did not come through Publish
// is a batch of its own (not remembered: the event's fields may be resolved
// concurrently).
func (e *Event) shared() *batch {
	if e.batch == nil {
		return &batch{events: []Event{*e}}
	}
	return e.batch
}

// loadContext detaches a batch's load from the subscriber that happens to
// ask first: its leaving must not fail the others' load, and its viewer is
// not theirs. The rows are read as clnd itself; the hub hands an event only
// to its own tenant and to operators, and License/Server check that a row
// belongs to the event's tenant.
func loadContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(viewer.SystemContext(context.WithoutCancel(ctx)), loadTimeout)
}
