package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"clnd/ent"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/ids"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Issue 11's row: the lean check-ins again while events are written and
// their webhook deliveries queued at EventRate (event rows, delivery rows,
// River jobs) to an endpoint subscribed to them, EventBatch per
// transaction: the shape of a stale sweep after an outage or a bulk
// removal, the changes that make events by the thousand. The bench instance
// runs no delivery workers: the row measures what queueing costs check-ins,
// not what posting to a receiver costs the machine (other instances can
// deliver).
const (
	SideLeanEvents = "lean+events"
	// EventRate is the events per second written beside the check-ins.
	EventRate = 1000
	// EventBatch is the events of one transaction.
	EventBatch = 50
	// eventWriters share EventRate, each on a ticker.
	eventWriters = 2
)

// benchObject is the bench's event object.
type benchObject struct {
	ID string `json:"id"`
	IP string `json:"ip"`
}

func (o benchObject) ObjectID() string { return o.ID }

// eventLoad writes events at EventRate until stopped.
type eventLoad struct {
	db       *store.DB
	reseller string
	endpoint string
	written  atomic.Int64
	errs     atomic.Int64
}

// newEventLoad makes the endpoint the events are queued for.
func newEventLoad(ctx context.Context, db *store.DB) (*eventLoad, error) {
	sys := clock.NewContext(viewer.SystemContext(ctx), clock.System{})
	r, err := db.Client.Reseller.Query().First(sys)
	if err != nil {
		return nil, fmt.Errorf("events: a reseller to write events for: %w", err)
	}
	endpoint, err := db.Client.WebhookEndpoint.Create().
		SetResellerID(r.ID).
		SetURL("https://receiver.example.invalid/clnd").
		SetEvents([]string{events.LicenseStale}).
		SetDescription("clnd bench: deliveries are queued, never posted").
		SetSecret([]byte("unused")).
		Save(sys)
	if err != nil {
		return nil, err
	}
	return &eventLoad{db: db, reseller: r.ID, endpoint: endpoint.ID}, nil
}

// remove deletes what the load wrote (its endpoint, the events queued for
// it, their deliveries and River jobs), so that a database reused with
// --database-url does not grow by every run's events and measure later
// runs on more rows than the first.
func (l *eventLoad) remove(ctx context.Context) error {
	tx, err := l.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range []string{
		`DELETE FROM river_job WHERE kind = 'webhook_delivery' AND args->>'endpoint_id' = $1`,
		// One statement: the deliveries' references to the events are
		// checked at its end, when both are gone.
		`WITH d AS (DELETE FROM webhook_deliveries WHERE endpoint_id = $1 RETURNING event_id)
		 DELETE FROM events WHERE id IN (SELECT event_id FROM d)`,
		`DELETE FROM webhook_endpoints WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, l.endpoint); err != nil {
			return fmt.Errorf("removing the bench's events: %w", err)
		}
	}
	return tx.Commit()
}

// start writes events until the returned stop is called; stop returns how
// many were written and how long it ran.
func (l *eventLoad) start(ctx context.Context) (stop func() (int64, time.Duration)) {
	ctx = clock.NewContext(viewer.SystemContext(ctx), clock.System{})
	// Stopping lets a transaction under way finish (and count) rather than
	// cancelling it: on a busy machine a phase can be shorter than one.
	var stopped atomic.Bool
	began := time.Now()
	before := l.written.Load()
	// Each writer keeps its share of EventRate by the clock: it writes a
	// batch whenever it is behind, so a slow transaction is caught up on.
	var wg sync.WaitGroup
	share := float64(EventRate) / eventWriters
	for range eventWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			written := 0
			for !stopped.Load() && ctx.Err() == nil {
				if float64(written) >= share*time.Since(began).Seconds() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				batch := make([]events.Pending, EventBatch)
				for i := range batch {
					batch[i] = events.Pending{Type: events.LicenseStale, ResellerID: l.reseller, Object: benchObject{ID: ids.New("ipl"), IP: "203.0.113.1"}}
				}
				err := store.InTx(ctx, l.db.Client, func(tx *ent.Tx) error {
					_, err := events.EmitMany(ctx, tx, batch)
					return err
				})
				if err != nil {
					if ctx.Err() == nil {
						l.errs.Add(1)
					}
					continue
				}
				written += EventBatch
				l.written.Add(EventBatch)
			}
		}()
	}
	return func() (int64, time.Duration) {
		stopped.Store(true)
		wg.Wait()
		return l.written.Load() - before, time.Since(began)
	}
}

// lastRate is the events per second of the round just measured.
func (l *eventLoad) lastRate(r *CheckInReport) float64 {
	for _, s := range r.Sides {
		if s.events == l && len(s.EventRates) > 0 {
			return s.EventRates[len(s.EventRates)-1]
		}
	}
	return 0
}
