// Package checkin records servers' check-ins. Check-ins arrive by the
// thousand; each waits for a batch that one flusher writes in a single
// transaction (one UPDATE per table, one NOTIFY per few dozen events), and is
// answered once that transaction has committed: group commit.
package checkin

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"clnd/internal/apperr"
	"clnd/internal/auth"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
	"clnd/internal/live"
	"clnd/internal/store"
)

// Request is one check-in.
type Request struct {
	// Addr identifies the host when Credential is empty.
	Addr       netip.Addr
	Credential string
	Hostname   string
	At         time.Time
}

// Result answers a check-in.
type Result struct {
	At       time.Time
	Licensed []catalog.LicenseType
}

// Options tune the batching.
type Options struct {
	MaxBatch int           // flush when this many check-ins wait
	MaxDelay time.Duration // or when the oldest has waited this long
}

// Service records check-ins in batches.
type Service struct {
	db     *store.DB
	hub    *live.Hub
	origin string // this instance, so it ignores its own notifications
	log    *slog.Logger
	opts   Options

	queue chan *pending
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type pending struct {
	req      Request
	hash     []byte // credential hash
	ip       string // canonical address
	result   Result
	err      error
	answered chan struct{}
}

// ErrUnknownCredential answers a check-in with a credential clnd did not issue.
var ErrUnknownCredential = apperr.New(apperr.Unauthenticated, "unknown server credential")

// ErrStopped answers check-ins that arrive while the service shuts down.
var ErrStopped = errors.New("check-in service stopped")

// New starts the flusher. Close stops it.
func New(db *store.DB, hub *live.Hub, origin string, log *slog.Logger, opts Options) *Service {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 5 * time.Millisecond
	}
	s := &Service{
		db: db, hub: hub, origin: origin, log: log, opts: opts,
		queue: make(chan *pending, 4*opts.MaxBatch),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.run()
	return s
}

// Close flushes what is queued and stops the flusher.
func (s *Service) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// CheckIn records one check-in and waits until it is committed.
func (s *Service) CheckIn(ctx context.Context, req Request) (Result, error) {
	p := &pending{req: req, answered: make(chan struct{})}
	req.Hostname = strings.TrimSpace(req.Hostname)
	if len(req.Hostname) > licensing.MaxHostnameLength {
		return Result{}, apperr.Input("hostname", "a hostname has at most %d characters", licensing.MaxHostnameLength)
	}
	p.req.Hostname = req.Hostname
	if req.Credential != "" {
		p.hash = auth.HashSecret(req.Credential)
	} else {
		if !req.Addr.IsValid() {
			return Result{}, apperr.New(apperr.Unauthenticated, "the check-in's source address is unknown")
		}
		p.ip = req.Addr.Unmap().String()
	}
	select {
	case s.queue <- p:
	case <-s.stop:
		return Result{}, ErrStopped
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case <-p.answered:
		return p.result, p.err
	case <-ctx.Done():
		// The check-in may still be recorded; the caller has gone.
		return Result{}, ctx.Err()
	}
}

func (s *Service) run() {
	defer close(s.done)
	batch := make([]*pending, 0, s.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case p := <-s.queue:
			batch = append(batch, p)
			if len(batch) == 1 {
				timer.Reset(s.opts.MaxDelay)
			}
			if len(batch) < s.opts.MaxBatch {
				continue
			}
		case <-timer.C:
		case <-s.stop:
			// Answer what is already queued before stopping.
		drain:
			for {
				select {
				case p := <-s.queue:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			if len(batch) > 0 {
				s.flush(batch)
			}
			return
		}
		if len(batch) == 0 {
			continue
		}
		timer.Stop()
		s.flush(batch)
		batch = make([]*pending, 0, s.opts.MaxBatch)
	}
}

// flush writes one batch and answers its check-ins.
func (s *Service) flush(batch []*pending) {
	events, err := s.write(batch)
	for _, p := range batch {
		if err != nil && p.err == nil {
			p.err = err
		}
		close(p.answered)
	}
	if err != nil {
		s.log.Error("recording check-ins", "batch", len(batch), "err", err)
		return
	}
	if len(events) > 0 {
		s.hub.Publish(events) // after commit: never announce what was not written
	}
}
