// Package checkin records servers' check-ins. Check-ins arrive by the
// thousand; each waits for a batch that the flusher hands to one of its
// writers (one UPDATE per table, committed on its own; two batches at once
// on PostgreSQL), and is answered once that batch has committed: group
// commit. The batch's events are then published by the
// announcer, and NOTIFYed (one NOTIFY per few dozen events) when another
// instance has subscribers (live.Presence), while the flusher writes the
// next batch; a batch nobody watches has no events at all.
package checkin

import (
	"context"
	"database/sql"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	MaxBatch int           // write at most this many check-ins at once (default 1000)
	MaxDelay time.Duration // let a batch gather for this long first (default 0: write at once)
	// AnswerTimeout bounds how long a check-in waits for its batch
	// (default 10 s): a database that stopped answering without closing
	// its connections (a frozen server, a network that drops packets)
	// holds the flusher's statement until it answers again, and the agent
	// is answered ErrNotConfirmed rather than held with it.
	AnswerTimeout time.Duration
	// Writers is how many batches are written at once (default 2 on
	// PostgreSQL, 1 on SQLite, which has one writer). While one batch's
	// statement runs in the database, the check-ins that arrive form the
	// next, which goes out beside it instead of waiting: the database
	// works on two cores, and under load the check-ins queued behind a
	// batch wait for half as long. A writer is free again once its batch
	// has handed its events on, after the batch taken before it did (or
	// orderWait passed).
	Writers int
}

// DefaultAnswerTimeout is Options.AnswerTimeout's default: PostgreSQL's
// connect_timeout of the pool (store), so that a check-in and a query
// give up on a database that does not answer at about the same time.
const DefaultAnswerTimeout = 10 * time.Second

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
	// written carries each written batch's events to the announcer, which
	// NOTIFYs and publishes them while the flusher writes the next batch.
	written   chan written
	announced chan struct{}

	batches, checkIns atomic.Int64

	// stmts are the prepared statements of the PostgreSQL write path.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
}

// Stats are how many batches were written and how many check-ins they held.
func (s *Service) Stats() (batches, checkIns int64) {
	return s.batches.Load(), s.checkIns.Load()
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

// ErrStopped answers check-ins that arrive while the service shuts down:
// another instance (or this one, restarted) will take them.
var ErrStopped = apperr.New(apperr.Unavailable, "this instance is shutting down: check in again")

// New starts the flusher. Close stops it.
func New(db *store.DB, hub *live.Hub, origin string, log *slog.Logger, opts Options) *Service {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.AnswerTimeout <= 0 {
		opts.AnswerTimeout = DefaultAnswerTimeout
	}
	if opts.Writers <= 0 || !db.Postgres() {
		opts.Writers = 1
		if db.Postgres() {
			opts.Writers = 2
		}
	}
	s := &Service{
		db: db, hub: hub, origin: origin, log: log, opts: opts,
		queue:     make(chan *pending, 4*opts.MaxBatch),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		written:   make(chan written, 64),
		announced: make(chan struct{}),
	}
	go s.run()
	go s.announceWritten()
	return s
}

// Close flushes what is queued, announces what was written and stops. It
// waits at most Options.AnswerTimeout: a database that stopped answering
// without closing its connections holds the flusher's (or the announcer's)
// statement for as long as it is frozen, whatever a context says, and a
// stopping process must not wait with it. The check-ins it holds have been
// answered ErrNotConfirmed by then (they waited as long); the held
// goroutines end with the process.
func (s *Service) Close() {
	s.once.Do(func() {
		close(s.stop)
		go func() {
			<-s.done
			close(s.written) // after the flusher: it sends on written
		}()
	})
	// Every caller waits (a second Close, concurrent or later, as the first).
	timeout := time.NewTimer(s.opts.AnswerTimeout)
	defer timeout.Stop()
	select {
	case <-s.announced:
	case <-timeout.C:
		s.log.Error("stopping check-ins: the database did not answer in time; the batch it holds may not be written",
			"timeout", s.opts.AnswerTimeout)
	}
}

// CheckIn records one check-in and waits until it is committed.
func (s *Service) CheckIn(ctx context.Context, req Request) (Result, error) {
	hostname, err := licensing.CleanHostname("hostname", req.Hostname)
	if err != nil {
		return Result{}, err
	}
	if !utf8.ValidString(hostname) {
		// A form body can carry any bytes; PostgreSQL would refuse the
		// whole batch over one of them.
		return Result{}, apperr.Input("hostname", "a hostname must be UTF-8")
	}
	req.Hostname = hostname
	p := &pending{req: req, answered: make(chan struct{})}
	if req.Credential != "" {
		p.hash = auth.HashSecret(req.Credential)
	} else {
		if !req.Addr.IsValid() {
			return Result{}, apperr.New(apperr.Unauthenticated, "the check-in's source address is unknown")
		}
		p.ip = req.Addr.Unmap().String()
	}
	select {
	case <-s.stop:
		return Result{}, ErrStopped
	default:
	}
	timeout := time.NewTimer(s.opts.AnswerTimeout)
	defer timeout.Stop()
	// Queued even when the request has just ended (a half-close, below),
	// unless the queue is full.
	select {
	case s.queue <- p:
	default:
		select {
		case s.queue <- p:
		case <-s.stop:
			return Result{}, ErrStopped
		case <-ctx.Done():
			return Result{}, ErrNotConfirmed
		case <-timeout.C:
			// The flusher has not taken a check-in for so long that the
			// queue filled: not queued, so nothing of it is written.
			return Result{}, ErrNotConfirmed
		}
	}
	select {
	case <-p.answered:
		return p.result, p.err
	case <-s.done:
		return s.afterStop(p)
	case <-timeout.C:
		// Still queued or being written: it may yet be recorded.
		return Result{}, ErrNotConfirmed
	case <-ctx.Done():
	}
	// The request's context ends when its client closes its side of the
	// connection, which an agent may do as soon as it has sent the
	// check-in (a half-close) and still read the answer: the check-in is
	// queued and about to be written, so wait for it a little longer.
	grace := time.NewTimer(answerGrace)
	defer grace.Stop()
	select {
	case <-p.answered:
		return p.result, p.err
	case <-s.done:
		return s.afterStop(p)
	case <-grace.C:
		return Result{}, ErrNotConfirmed
	case <-timeout.C:
		return Result{}, ErrNotConfirmed
	}
}

// afterStop answers a queued check-in once the flusher has stopped: the
// answer of the batch that held it, or, when it was queued after the last
// drain (it passed the stop check just before Close), ErrStopped: no
// flusher is left to write it, so nothing of it is written.
func (s *Service) afterStop(p *pending) (Result, error) {
	select {
	case <-p.answered:
		return p.result, p.err
	default:
		return Result{}, ErrStopped
	}
}

// answerGrace is how long a check-in whose request has ended still waits
// for its batch.
const answerGrace = 5 * time.Second

// ErrNotConfirmed answers a check-in whose batch was not written in time
// (Options.AnswerTimeout, or answerGrace after its request ended); it may
// still be recorded. It is UNAVAILABLE: the agent checks in again later.
var ErrNotConfirmed = apperr.New(apperr.Unavailable, "the check-in was not confirmed in time: check in again")

// run is the flusher: it takes whatever check-ins are waiting (at least
// one, at most MaxBatch) once a writer is free, hands them to it, and goes
// again. Under light load a check-in is written at once; under heavy load
// the check-ins that arrive while the writers are busy form the next
// batch, so batches grow with the load and nobody waits on a timer.
// MaxDelay, when set, lets a batch wait that long for more check-ins
// before it is written. Batches may commit out of order (their statements
// keep the newest check-in of a row whatever the order), but their events
// are announced in the order the batches were taken, but for a batch held
// past orderWait (flush). A batch that shares a row with one still being
// written waits, without its writer, until that one has been: sorting
// a batch's keys does not set the order its statement locks rows in (the
// plan does: a few keys are index lookups in the array's order, a hundred
// a hash join in the table's), so two such batches could deadlock, and
// PostgreSQL breaks a deadlock only after deadlock_timeout (1 s).
func (s *Service) run() {
	defer close(s.done)
	var writing sync.WaitGroup
	defer writing.Wait()
	free := make(chan struct{}, s.opts.Writers)
	for range s.opts.Writers {
		free <- struct{}{}
	}
	// previous is closed once the batch taken before has handed its
	// events to the announcer (or has none).
	previous := make(chan struct{})
	close(previous)
	var inFlight []writingBatch // the batches being written (Writers > 1)
	// waiting holds a place for each batch waiting for another that shares
	// a row: once maxWaiting wait, the flusher takes no more (the queue
	// fills, as with every writer busy) rather than taking and keeping,
	// while a row stays locked, every check-in of the hosts held.
	waiting := make(chan struct{}, maxWaiting)
	for {
		select {
		case <-free:
		case <-s.stop:
			writing.Wait()
			s.drainAndStop(previous)
			return
		}
		var batch []*pending
		select {
		case p := <-s.queue:
			batch = append(make([]*pending, 0, 64), p)
		case <-s.stop:
			writing.Wait()
			s.drainAndStop(previous)
			return
		}
		if s.opts.MaxDelay > 0 {
			time.Sleep(s.opts.MaxDelay)
		}
	collect:
		for len(batch) < s.opts.MaxBatch {
			select {
			case p := <-s.queue:
				batch = append(batch, p)
			default:
				break collect
			}
		}
		handed, wrote := make(chan struct{}), make(chan struct{})
		var after []chan struct{}
		if s.opts.Writers > 1 {
			after, inFlight = sharingRows(batch, wrote, inFlight)
		}
		if len(after) > 0 {
			waiting <- struct{}{}
		}
		writing.Add(1)
		go func(previous chan struct{}) {
			defer writing.Done()
			if len(after) > 0 {
				// A batch held past orderWait (by a row another
				// transaction keeps locked) is waited for without the
				// writer: the other writes on meanwhile, rather than
				// every writer waiting for the held hosts' next
				// check-ins. (Given back at once, the writer went to the
				// next batch, which then waited up to orderWait for this
				// one to hand its events on while this one waited for a
				// writer.)
				held := !closedWithin(after, orderWait)
				if held {
					free <- struct{}{}
					closedWithin(after, -1)
				}
				<-waiting // before the writer: the flusher may hold one waiting for a place
				if held {
					<-free
				}
			}
			s.flush(batch, previous, handed, wrote)
			free <- struct{}{}
		}(previous)
		previous = handed
	}
}

// closedWithin waits until every channel is closed, at most d (d < 0: as
// long as it takes), and says whether they all were.
func closedWithin(chs []chan struct{}, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for _, c := range chs {
		select {
		case <-c:
		case <-timeout:
			return false
		}
	}
	return true
}

// maxWaiting bounds the batches waiting for one that shares a row: enough
// that a held host checking in again and again (one batch each) holds no
// other host for long, few enough that their goroutines and check-ins (at
// most MaxBatch each) stay small beside the queue.
const maxWaiting = 64

// orderWait bounds how long a written batch waits for the batch taken
// before it to hand its events on (flush).
const orderWait = 50 * time.Millisecond

// writingBatch is a batch handed to a writer: the keys of its rows, and
// wrote, closed once its statements have ended.
type writingBatch struct {
	keys  map[string]struct{}
	wrote chan struct{}
}

// sharingRows returns the wrote channels of the batches in inFlight that
// share a row with batch, and inFlight without the batches written since
// and with batch (whose wrote is given).
func sharingRows(batch []*pending, wrote chan struct{}, inFlight []writingBatch) ([]chan struct{}, []writingBatch) {
	keys := make(map[string]struct{}, len(batch))
	for _, p := range batch {
		if p.hash != nil {
			keys[string(p.hash)] = struct{}{}
		} else {
			keys[p.ip] = struct{}{}
		}
	}
	var after []chan struct{}
	kept := inFlight[:0]
	for _, o := range inFlight {
		select {
		case <-o.wrote:
			continue
		default:
		}
		kept = append(kept, o)
		for k := range keys {
			if _, ok := o.keys[k]; ok {
				after = append(after, o.wrote)
				break
			}
		}
	}
	return after, append(kept, writingBatch{keys: keys, wrote: wrote})
}

// drainAndStop answers what is already queued before the flusher stops.
func (s *Service) drainAndStop(previous chan struct{}) {
	var batch []*pending
	for {
		select {
		case p := <-s.queue:
			batch = append(batch, p)
		default:
			if len(batch) > 0 {
				s.flush(batch, previous, make(chan struct{}), make(chan struct{}))
			}
			return
		}
	}
}

// flush writes one batch, closes wrote and answers its check-ins. Its
// events go to the announcer after those of the batch taken before it
// (previous closed), and then it closes handed.
func (s *Service) flush(batch []*pending, previous, handed, wrote chan struct{}) {
	defer close(handed)
	w, err := s.write(batch)
	close(wrote)
	s.batches.Add(1)
	s.checkIns.Add(int64(len(batch)))
	for _, p := range batch {
		if err != nil && p.err == nil {
			p.err = err
		}
		close(p.answered)
	}
	// In the order the batches were taken, and a writer is free again only
	// then: the flusher takes what arrived meanwhile as one batch, not two
	// halves, which cost the database more per check-in (without this
	// order, 7 check-ins per batch instead of 15 and a fifth fewer per
	// second). A batch held longer than orderWait (a row another
	// transaction keeps locked) is not waited for: the other writer goes
	// on, and its events go out before the held batch's.
	wait := time.NewTimer(orderWait)
	select {
	case <-previous:
	case <-wait.C:
	}
	wait.Stop()
	if err != nil {
		s.log.Error("recording check-ins", "batch", len(batch), "err", err)
		return
	}
	if len(w.events) > 0 {
		s.written <- w // after commit: never announce what was not written
	}
}
