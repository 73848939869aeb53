package live

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"clnd/internal/clock"
)

// Presence lists this instance in live_instances while it has check-in
// subscribers. An instance NOTIFYs its check-ins only while another one is
// listed (PresentElsewhere, part of the statement that writes the batch):
// a NOTIFY nobody delivers cost a check-in as much as its UPDATE, and most
// of the time no dashboard is open on any other instance.
//
// The row is written (when not already fresh) before a subscriber is
// registered in the hub, so a check-in that begins after a subscription has
// started on one instance is NOTIFYed by any other. When it cannot be
// written, the subscription ends at once (Hub.Subscribe) rather than run
// without the other instances' events; for a second after a failure new
// subscriptions end without trying, so that they do not queue behind an
// unreachable database. The row lives presenceTTL from its last write; Run
// rewrites it while subscribers remain and deletes it once there are none,
// or when the instance stops (after which it lists itself no more). An
// instance that dies is forgotten when its row expires, and its row deleted
// an hour later by whichever instance runs first.
//
// Removing a subscriber never waits for the database or for p.mu: the hub
// removes slow subscribers while it publishes, and publishing never waits.
type Presence struct {
	db     *sql.DB
	origin string
	log    *slog.Logger

	hub *Hub // its watchers: counted before watch, uncounted without p.mu

	mu      sync.Mutex
	listed  bool      // the row may exist
	fresh   time.Time // until when the row needs no rewrite
	failed  time.Time // when writing it last failed
	stopped bool      // Run has ended: never list again
}

const (
	// presenceTTL is how long a written row lists the instance.
	presenceTTL = 2 * time.Minute
	// presenceTick is how often Run looks at the subscribers; the row is
	// rewritten when less than a minute of it is left, so it never lapses
	// while subscribers remain.
	presenceTick = 30 * time.Second
	// presenceWrite bounds every write of the row.
	presenceWrite = 2 * time.Second
)

// PresentElsewhere is the SQL condition, for a statement's CTE, that some
// other instance than $n has subscribers.
func PresentElsewhere(originParam int) string {
	return "EXISTS (SELECT 1 FROM live_instances WHERE origin <> CAST($" + strconv.Itoa(originParam) + " AS text) AND until > now())"
}

// NewPresence watches hub's subscribers for the instance origin.
func NewPresence(db *sql.DB, origin string, hub *Hub, log *slog.Logger) *Presence {
	p := &Presence{db: db, origin: origin, log: log, hub: hub}
	hub.onSubscribe = p.watch
	return p
}

// watch lists the instance for a new subscriber (counted in hub.watchers
// already), unless its row is fresh; false when it could not be listed.
func (p *Presence) watch() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false // a websocket that outlived the instance's shutdown
	}
	if !clock.Wall().Before(p.fresh) {
		if clock.Wall().Sub(p.failed) < time.Second {
			return false
		}
		if err := p.list(context.Background()); err != nil {
			p.failed = clock.Wall()
			p.log.Warn("listing this instance's check-in subscribers; the subscription ends", "err", err)
			return false
		}
	}
	return true
}

// list writes the row; p.mu is held.
func (p *Presence) list(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, presenceWrite)
	defer cancel()
	start := clock.Wall()
	p.listed = true
	if _, err := p.db.ExecContext(ctx, `INSERT INTO live_instances (origin, until) VALUES ($1, now() + CAST($2 AS integer) * interval '1 second') `+
		`ON CONFLICT (origin) DO UPDATE SET until = EXCLUDED.until`, p.origin, int(presenceTTL/time.Second)); err != nil {
		p.fresh = time.Time{}
		return err
	}
	p.fresh = start.Add(presenceTTL - time.Minute)
	return nil
}

// unlist deletes the row; p.mu is held. Until it is known to be gone the
// row counts as stale, so that a failed (or ambiguous) DELETE makes the
// next subscriber write it again.
func (p *Presence) unlist(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, presenceWrite)
	defer cancel()
	p.fresh = time.Time{}
	if _, err := p.db.ExecContext(ctx, `DELETE FROM live_instances WHERE origin = $1`, p.origin); err != nil {
		return err
	}
	p.listed = false
	return nil
}

// forgetDead deletes the rows of instances that expired an hour ago (they
// died without unlisting), so the table stays as small as the cluster.
func (p *Presence) forgetDead(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, presenceWrite)
	defer cancel()
	_, err := p.db.ExecContext(ctx, `DELETE FROM live_instances WHERE until < now() - interval '1 hour'`)
	return err
}

// Run keeps the row while there are subscribers and deletes it when there
// are none, until ctx ends; then it deletes the row.
func (p *Presence) Run(ctx context.Context) {
	tick := time.NewTicker(presenceTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.stopped = true
			if p.listed {
				_ = p.unlist(context.Background())
			}
			p.mu.Unlock()
			return
		case <-tick.C:
		}
		p.mu.Lock()
		var err error
		switch watchers := p.hub.watchers.Load(); {
		case watchers > 0 && !clock.Wall().Before(p.fresh):
			err = p.list(ctx)
		case watchers == 0 && p.listed:
			err = p.unlist(ctx)
		}
		p.mu.Unlock()
		if err == nil {
			err = p.forgetDead(ctx)
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("listing this instance's check-in subscribers", "err", err)
		}
	}
}
