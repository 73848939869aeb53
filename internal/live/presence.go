package live

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"sync"
	"time"
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
// or when the instance stops. An instance that dies is forgotten when its
// row expires.
type Presence struct {
	db     *sql.DB
	origin string
	log    *slog.Logger

	mu       sync.Mutex
	watchers int       // subscribers registered through watch
	listed   bool      // the row may exist
	fresh    time.Time // until when the row needs no rewrite
	failed   time.Time // when writing it last failed
}

const (
	// presenceTTL is how long a written row lists the instance.
	presenceTTL = 2 * time.Minute
	// presenceTick is how often Run looks at the subscribers; the row is
	// rewritten when less than a minute of it is left, so it never lapses
	// while subscribers remain.
	presenceTick = 30 * time.Second
)

// PresentElsewhere is the SQL condition, for a statement's CTE, that some
// other instance than $n has subscribers.
func PresentElsewhere(originParam int) string {
	return "EXISTS (SELECT 1 FROM live_instances WHERE origin <> CAST($" + strconv.Itoa(originParam) + " AS text) AND until > now())"
}

// NewPresence watches hub's subscribers for the instance origin.
func NewPresence(db *sql.DB, origin string, hub *Hub, log *slog.Logger) *Presence {
	p := &Presence{db: db, origin: origin, log: log}
	hub.onSubscribe = p.watch
	hub.onUnsubscribe = p.unwatch
	return p
}

// watch counts one more subscriber, listing the instance first unless its
// row is fresh; false when it could not be listed.
func (p *Presence) watch() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !time.Now().Before(p.fresh) {
		if time.Since(p.failed) < time.Second {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := p.list(ctx); err != nil {
			p.failed = time.Now()
			p.log.Warn("listing this instance's check-in subscribers; the subscription ends", "err", err)
			return false
		}
	}
	p.watchers++
	return true
}

// unwatch counts one subscriber fewer.
func (p *Presence) unwatch() {
	p.mu.Lock()
	p.watchers--
	p.mu.Unlock()
}

// list writes the row; p.mu is held.
func (p *Presence) list(ctx context.Context) error {
	start := time.Now()
	p.listed = true
	if _, err := p.db.ExecContext(ctx, `INSERT INTO live_instances (origin, until) VALUES ($1, now() + CAST($2 AS integer) * interval '1 second') `+
		`ON CONFLICT (origin) DO UPDATE SET until = EXCLUDED.until`, p.origin, int(presenceTTL/time.Second)); err != nil {
		p.fresh = time.Time{}
		return err
	}
	p.fresh = start.Add(presenceTTL - time.Minute)
	return nil
}

// unlist deletes the row; p.mu is held.
func (p *Presence) unlist(ctx context.Context) error {
	if _, err := p.db.ExecContext(ctx, `DELETE FROM live_instances WHERE origin = $1`, p.origin); err != nil {
		return err
	}
	p.listed, p.fresh = false, time.Time{}
	return nil
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
			if p.listed {
				stop, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = p.unlist(stop)
				cancel()
			}
			p.mu.Unlock()
			return
		case <-tick.C:
		}
		p.mu.Lock()
		var err error
		switch {
		case p.watchers > 0 && !time.Now().Before(p.fresh):
			err = p.list(ctx)
		case p.watchers == 0 && p.listed:
			err = p.unlist(ctx)
		}
		p.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			p.log.Warn("listing this instance's check-in subscribers", "err", err)
		}
	}
}
