package live

import (
	"context"
	"sync"
	"time"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/ent/server"
	"clnd/internal/apperr"
	"clnd/internal/store"
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

	licenses rowLoad[*ent.IPLicense]
	servers  rowLoad[*ent.Server]
}

// rowLoad is one load of a batch's rows by ID, shared by its subscribers.
type rowLoad[T any] struct {
	once sync.Once
	done chan struct{} // closed once rows and err are set
	rows map[string]T
	err  error
}

// errNotLoaded answers a subscriber whose event's rows the database did not
// give in time (or could not: it is down). The event still arrives, its
// other fields set; the subscription goes on.
var errNotLoaded = apperr.New(apperr.Unavailable, "the database did not answer in time: this field could not be loaded")

// get loads the rows the first time it is called (load, in its own
// goroutine) and waits for them at most loadTimeout. A database that stops
// answering without closing its connections holds a statement whatever its
// context says (the driver waits for the server's answer to its cancel
// request), and subscribers must not wait with it: they get errNotLoaded.
func (l *rowLoad[T]) get(ctx context.Context, load func(context.Context) (map[string]T, error)) (map[string]T, error) {
	l.once.Do(func() {
		l.done = make(chan struct{})
		go func() {
			defer close(l.done)
			ctx, cancel := loadContext(ctx)
			defer cancel()
			l.rows, l.err = load(ctx)
			if l.err != nil && (ctx.Err() != nil || store.Unavailable(l.err)) {
				// Out of time (whatever the driver made of its cancel),
				// or the database is down: not a fault of clnd's.
				l.err = errNotLoaded
			}
		}()
	})
	timeout := time.NewTimer(loadTimeout)
	defer timeout.Stop()
	select {
	case <-l.done:
		return l.rows, l.err
	case <-timeout.C:
		return nil, errNotLoaded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
	licenses, err := b.licenses.get(ctx, func(ctx context.Context) (map[string]*ent.IPLicense, error) {
		var ids []string
		for _, ev := range b.events {
			if ev.LicenseID != "" {
				ids = append(ids, ev.LicenseID)
			}
		}
		rows, err := client.IPLicense.Query().Where(iplicense.IDIn(ids...)).
			WithProduct().WithBackup().WithReseller().All(ctx)
		byID := make(map[string]*ent.IPLicense, len(rows))
		for _, l := range rows {
			byID[l.ID] = l
		}
		return byID, err
	})
	if err != nil {
		return nil, err
	}
	l := licenses[e.LicenseID]
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
	servers, err := b.servers.get(ctx, func(ctx context.Context) (map[string]*ent.Server, error) {
		var ids []string
		for _, ev := range b.events {
			if ev.ServerID != "" {
				ids = append(ids, ev.ServerID)
			}
		}
		rows, err := client.Server.Query().Where(server.IDIn(ids...)).
			WithReseller().WithServerAccount().WithActivationKey().All(ctx)
		byID := make(map[string]*ent.Server, len(rows))
		for _, s := range rows {
			byID[s.ID] = s
		}
		return byID, err
	})
	if err != nil {
		return nil, err
	}
	s := servers[e.ServerID]
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
