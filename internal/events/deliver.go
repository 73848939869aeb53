package events

import (
	"bytes"
	"context"
	"crypto/tls"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"clnd/ent"
	"clnd/ent/webhookdelivery"
	"clnd/ent/webhookendpoint"
	"clnd/internal/clock"
	"clnd/internal/sealed"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Retry schedule, by clnd's clock: attempt n (n >= 1) failing waits
// backoff(n) before the next: 1 min, 4 min, 16 min, ~1 h, ~4 h, then 12 h
// apart, with up to 10% jitter, for maxAttempts attempts: the last is about
// three days (77 h) after the first. A delivery whose attempts all failed is
// FAILED, and its endpoint is disabled with a webhook_endpoint.disabled event.
const (
	maxAttempts = 12
	firstDelay  = time.Minute
	maxDelay    = 12 * time.Hour
)

// backoff is the wait after the n-th failed attempt of a delivery. The
// jitter comes from the delivery's ID, so it spreads the retries of many
// deliveries but is the same every time it is computed for one.
func backoff(n int, deliveryID string) time.Duration {
	d := firstDelay
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 4
	}
	d = min(d, maxDelay)
	h := fnv.New32a()
	h.Write([]byte(deliveryID))
	h.Write([]byte{byte(n)})
	return d + time.Duration(uint64(d)/10*uint64(h.Sum32()%1000)/1000)
}

// RunnerConfig configures an instance's delivery workers.
type RunnerConfig struct {
	// Workers is how many deliveries this instance attempts at once.
	Workers int
	// PerEndpoint is how many attempts to one endpoint this instance makes at
	// once; more wait (snoozed a second) so one slow receiver cannot hold
	// every worker.
	PerEndpoint int
	// AllowPrivate lets deliveries reach non-public addresses.
	AllowPrivate bool
}

// Defaults fills what is left zero.
func (c *RunnerConfig) Defaults() {
	if c.Workers <= 0 {
		c.Workers = 20
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
}

// Runner works this instance's share of the delivery jobs. Every instance
// runs one; River hands each job to one of them at a time.
type Runner struct {
	river   *river.Client[*stdsql.Tx]
	db      *ent.Client
	clock   clock.Clock
	keyring sealed.Keyring
	http    *http.Client
	log     *slog.Logger
	limits  endpointLimits
	metrics *Metrics
}

// NewRunner makes the runner of one instance; Start starts it.
func NewRunner(db *store.DB, c clock.Clock, keyring sealed.Keyring, cfg RunnerConfig, m *Metrics, log *slog.Logger) (*Runner, error) {
	cfg.Defaults()
	r := &Runner{
		db: db.Client, clock: c, keyring: keyring, http: newHTTPClient(cfg.AllowPrivate), log: log,
		limits: endpointLimits{max: cfg.PerEndpoint, busy: map[string]int{}, refused: map[string]*refusals{}}, metrics: m,
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{r: r}); err != nil {
		return nil, err
	}
	config := &river.Config{
		Queues:            map[string]river.QueueConfig{Queue: {MaxWorkers: cfg.Workers}},
		Workers:           workers,
		FetchPollInterval: pollInterval,
		FetchCooldown:     pollInterval / 5,
		JobTimeout:        2 * deliveryTimeout,
		// A job left running by a killed instance is worked again after
		// this (its delivery row says whether anything is left to do).
		RescueStuckJobsAfter: 3 * deliveryTimeout,
		Logger:               slog.New(newQuietRiver(log.Handler())),
		MaxAttempts:          25,
	}
	var err error
	switch db.Dialect {
	case dialect.Postgres:
		r.river, err = river.NewClient(riverdatabasesql.New(db.SQL), config)
	case dialect.SQLite:
		r.river, err = river.NewClient(riversqlite.New(db.SQL), config)
	default:
		err = fmt.Errorf("no River driver for %s", db.Dialect)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Start starts working jobs until Stop.
func (r *Runner) Start(ctx context.Context) error { return r.river.Start(ctx) }

// Stop lets running attempts finish (up to ctx) and stops.
func (r *Runner) Stop(ctx context.Context) error { return r.river.Stop(ctx) }

// kickLimit bounds what one Kick makes available; the rest are found within
// seconds by their own jobs (sandbox: deliver.go's not-due snooze).
var kickLimit = 1000

// Kick makes the deliveries whose next attempt is due by clnd's clock
// available now: the sandbox test clock moved past them, while their River
// jobs wait by wall time.
func (r *Runner) Kick(ctx context.Context) {
	ctx = viewer.SystemContext(ctx)
	now, after := r.clock.Now(), ""
	for ctx.Err() == nil {
		q := r.db.WebhookDelivery.Query().
			Where(
				webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING),
				webhookdelivery.NextAttemptAtLTE(now),
				webhookdelivery.JobIDNotNil(),
			).
			Order(webhookdelivery.ByID()).
			Select(webhookdelivery.FieldID, webhookdelivery.FieldJobID).
			Limit(kickLimit)
		if after != "" {
			q = q.Where(webhookdelivery.IDGT(after))
		}
		due, err := q.All(ctx)
		if err != nil {
			r.log.Warn("webhooks: finding deliveries due after the clock moved", "err", err)
			return
		}
		if len(due) == 0 {
			return
		}
		r.retry(ctx, due)
		if len(due) < kickLimit {
			return
		}
		after = due[len(due)-1].ID
	}
}

// retry makes one page of due deliveries' jobs available.
func (r *Runner) retry(ctx context.Context, due []*ent.WebhookDelivery) {
	// A job still running (its attempt just recorded, its snooze not yet)
	// is not touched by JobRetry: ask again shortly, for up to two seconds.
	jobs := make([]int64, 0, len(due))
	for _, d := range due {
		jobs = append(jobs, *d.JobID)
	}
	for round := 0; len(jobs) > 0 && round < 20 && ctx.Err() == nil; round++ {
		if round > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		running := jobs[:0]
		for _, id := range jobs {
			row, err := r.river.JobRetry(ctx, id)
			switch {
			case errors.Is(err, river.ErrNotFound):
			case err != nil:
				r.log.Warn("webhooks: making a due delivery available", "job", id, "err", err)
			case row.State == rivertype.JobStateRunning:
				running = append(running, id)
			}
		}
		jobs = running
	}
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	r *Runner
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	release, waiting, ok := w.r.limits.acquire(job.Args.EndpointID)
	if !ok {
		w.r.metrics.throttled()
		return river.JobSnooze(throttleWait(job.ID, waiting, w.r.limits.max))
	}
	defer release()
	return w.r.attempt(ctx, job.Args.DeliveryID)
}

// throttleWait is how long a job turned away by the per-endpoint limit
// waits: about as long as the jobs turned away before it need to get their
// turn (waiting ÷ limit seconds, from 1 s up to a minute), spread by job so
// they do not return together. A backlog behind a slow endpoint so costs
// River about limit wake-ups a second, not one per waiting job.
func throttleWait(jobID int64, waiting, limit int) time.Duration {
	base := time.Duration(max(waiting/max(limit, 1), 1)) * time.Second
	base = min(base, time.Minute)
	return base + time.Duration(uint64(jobID)*7919%uint64(base/time.Millisecond))*time.Millisecond
}

// endpointLimits bounds this instance's concurrent attempts per endpoint,
// and counts the jobs it turned away in the last few seconds (a backlog's
// size, for how long the next one turned away waits).
type endpointLimits struct {
	mu      sync.Mutex
	max     int
	busy    map[string]int
	refused map[string]*refusals
}

type refusals struct {
	since time.Time
	n     int
}

func (l *endpointLimits) acquire(endpointID string) (release func(), waiting int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[endpointID] >= l.max {
		now := clock.Wall()
		r := l.refused[endpointID]
		if r == nil || now.Sub(r.since) > 5*time.Second {
			r = &refusals{since: now}
			l.refused[endpointID] = r
		}
		r.n++
		return nil, r.n, false
	}
	l.busy[endpointID]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.busy[endpointID]--; l.busy[endpointID] <= 0 {
			delete(l.busy, endpointID)
			delete(l.refused, endpointID)
		}
	}, 0, true
}

// outcome is what one POST came to.
type outcome struct {
	status   *int
	duration time.Duration
	err      string // empty on success
}

// attempt posts one delivery if it is due, and records the outcome; the
// caller holds the endpoint's limit.
func (r *Runner) attempt(ctx context.Context, deliveryID string) error {
	ctx = clock.NewContext(viewer.SystemContext(ctx), r.clock)
	d, err := r.db.WebhookDelivery.Query().
		Where(webhookdelivery.ID(deliveryID)).
		WithEndpoint().
		WithEvent().
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil // its endpoint was deleted
	} else if err != nil {
		return err
	}
	if d.Status != webhookdelivery.StatusPENDING {
		return nil
	}
	ep, ev := d.Edges.Endpoint, d.Edges.Event
	if !ep.Enabled {
		return store.InTx(ctx, r.db, func(tx *ent.Tx) error { return cancelPending(ctx, tx, ep.ID) })
	}
	now := clock.Now(ctx)
	if d.NextAttemptAt != nil && d.NextAttemptAt.After(now) {
		wait := min(max(d.NextAttemptAt.Sub(now), time.Second), time.Hour)
		if _, frozen := r.clock.(*clock.Frozen); frozen {
			// Sandbox: the test clock may move at any time; every instance
			// kicks its due jobs when it sees it move (server.go), and this
			// bounds what a missed kick costs.
			wait = min(wait, time.Minute)
		}
		return river.JobSnooze(wait)
	}
	secrets, err := r.signingSecrets(ep, now)
	if err != nil {
		return err
	}
	body, err := Payload(ev)
	if err != nil {
		return err
	}
	out := r.post(ctx, ep.URL, ev.ID, d.ID, body, secrets)
	r.metrics.attempted(out)
	next, err := r.record(ctx, d, ep, out)
	if err != nil {
		return err
	}
	if next > 0 {
		return river.JobSnooze(next)
	}
	return nil
}

// signingSecrets opens the endpoint's secret, and the previous one while
// its grace period lasts.
func (r *Runner) signingSecrets(ep *ent.WebhookEndpoint, now time.Time) ([]string, error) {
	current, err := r.keyring.Open(ep.ID, ep.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint %s: %w", ep.ID, err)
	}
	secrets := []string{current}
	if ep.PreviousSecret != nil && ep.PreviousSecretExpiresAt != nil && now.Before(*ep.PreviousSecretExpiresAt) {
		previous, err := r.keyring.Open(ep.ID, *ep.PreviousSecret)
		if err != nil {
			return nil, fmt.Errorf("webhook endpoint %s: %w", ep.ID, err)
		}
		secrets = append(secrets, previous)
	}
	return secrets, nil
}

// post sends body once and reads at most responseCap bytes of the answer.
func (r *Runner) post(ctx context.Context, url, eventID, deliveryID string, body []byte, secrets []string) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: "bad URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "clnd-webhooks/1")
	req.Header.Set("Clnd-Event-Id", eventID)
	req.Header.Set("Clnd-Delivery-Id", deliveryID)
	// The signature's time is the wall clock's: receivers compare it with
	// theirs to refuse replays, whatever the sandbox clock says.
	req.Header.Set(SignatureHeader, Sign(body, clock.Wall(), secrets...))
	start := clock.Wall()
	resp, err := r.http.Do(req)
	out := outcome{duration: clock.Wall().Sub(start)}
	if err != nil {
		out.err = describe(err)
		return out
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseCap))
	resp.Body.Close()
	out.duration = clock.Wall().Sub(start)
	code := resp.StatusCode
	out.status = &code
	switch {
	case code >= 200 && code < 300:
	case code >= 300 && code < 400:
		out.err = fmt.Sprintf("HTTP %d: redirects are not followed (to %+q)", code, resp.Header.Get("Location"))
	default:
		out.err = "HTTP " + strconv.Itoa(code)
	}
	if len(out.err) > 500 {
		// On a character boundary: PostgreSQL refuses broken UTF-8, and
		// the attempt would never be recorded.
		out.err = strings.ToValidUTF8(out.err[:500], "")
	}
	return out
}

// notPublic is a delivery to a host that does not resolve, or resolves to
// an address clnd does not post to.
const notPublic = "refused address: the host does not resolve to a public address (webhooks go to public addresses only; start clnd with --webhooks-allow-private to allow private ones)"

// describe says why an attempt got no answer, in words the endpoint's
// owner can act on, without what clnd's network told it: neither the
// addresses a name resolved to nor the resolver's (a reseller could map the
// operator's internal DNS with webhook URLs otherwise).
func describe(err error) string {
	var (
		timeout interface{ Timeout() bool }
		dnsErr  *net.DNSError
		opErr   *net.OpError
		sysErr  *os.SyscallError
	)
	switch {
	case errors.Is(err, errRefusedAddress), errors.As(err, &dnsErr):
		// One message for both: which internal names exist is the
		// operator's to know, not an endpoint owner's.
		return notPublic
	case errors.As(err, &timeout) && timeout.Timeout():
		return fmt.Sprintf("no answer within %s", deliveryTimeout)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		if errors.As(err, &sysErr) {
			return "could not connect: " + sysErr.Err.Error()
		}
		return "could not connect"
	case errors.As(err, &opErr):
		return "the connection failed"
	}
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return "TLS: the certificate is not valid for the host"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before a complete answer"
	}
	return "the request failed"
}

// record writes an attempt's outcome and returns how long until the next
// attempt (0: none). The update is conditional on the attempt count it read,
// so a job worked twice (rescued after a crash) records one outcome.
func (r *Runner) record(ctx context.Context, d *ent.WebhookDelivery, ep *ent.WebhookEndpoint, out outcome) (time.Duration, error) {
	now := clock.Now(ctx)
	attempts := d.Attempts + 1
	var next time.Duration
	err := store.InTx(ctx, r.db, func(tx *ent.Tx) error {
		// The endpoint's row first, as UpdateEndpoint and DeleteEndpoint
		// lock it: one order (endpoint, then its deliveries) everywhere, or
		// an attempt ending while its owner disables the endpoint deadlocks.
		// A deleted endpoint took the delivery with it: nothing to record.
		if _, err := tx.WebhookEndpoint.Query().Where(webhookendpoint.ID(ep.ID)).Modify(store.ForUpdate).Only(ctx); ent.IsNotFound(err) {
			next = 0
			return nil
		} else if err != nil {
			return err
		}
		upd := tx.WebhookDelivery.Update().
			Where(
				webhookdelivery.ID(d.ID),
				webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING),
				webhookdelivery.Attempts(d.Attempts),
			).
			SetAttempts(attempts).
			SetLastAttemptAt(now).
			SetDurationMs(int(out.duration.Milliseconds())).
			SetError(out.err).
			SetNillableResponseStatus(out.status)
		if out.status == nil {
			upd.ClearResponseStatus()
		}
		exhausted := false
		switch {
		case out.err == "":
			upd.SetStatus(webhookdelivery.StatusSUCCEEDED).SetDeliveredAt(now).ClearNextAttemptAt()
		case attempts >= maxAttempts:
			upd.SetStatus(webhookdelivery.StatusFAILED).ClearNextAttemptAt()
			exhausted = true
		default:
			next = backoff(attempts, d.ID)
			upd.SetNextAttemptAt(now.Add(next))
		}
		n, err := upd.Save(ctx)
		if err != nil || n == 0 {
			next = 0
			return err // n == 0: another run recorded this attempt
		}
		switch {
		case out.err == "":
			return tx.WebhookEndpoint.Update().
				Where(webhookendpoint.ID(ep.ID), webhookendpoint.FailingSinceNotNil()).
				ClearFailingSince().
				Exec(ctx)
		case exhausted:
			return r.disable(ctx, tx, ep, now)
		}
		return tx.WebhookEndpoint.Update().
			Where(webhookendpoint.ID(ep.ID), webhookendpoint.FailingSinceIsNil()).
			SetFailingSince(now).
			Exec(ctx)
	})
	return next, err
}

// disable turns off an endpoint whose delivery failed for good, cancels its
// other pending deliveries and writes webhook_endpoint.disabled.
func (r *Runner) disable(ctx context.Context, tx *ent.Tx, ep *ent.WebhookEndpoint, now time.Time) error {
	reason := fmt.Sprintf("a delivery failed %d attempts over about three days", maxAttempts)
	n, err := tx.WebhookEndpoint.Update().
		Where(webhookendpoint.ID(ep.ID), webhookendpoint.Enabled(true)).
		SetEnabled(false).
		SetDisabledReason(reason).
		Save(ctx)
	if err != nil || n == 0 {
		return err
	}
	if err := cancelPending(ctx, tx, ep.ID); err != nil {
		return err
	}
	ep, err = tx.WebhookEndpoint.Get(ctx, ep.ID)
	if err != nil {
		return err
	}
	r.log.Warn("webhooks: endpoint disabled", "endpoint", ep.ID, "reason", reason)
	_, err = Emit(ctx, tx, WebhookEndpointDisabled, ep.ResellerID, WebhookEndpointOf(ep))
	return err
}

// Payload is the body of every delivery of ev: the event as JSON, as the
// events query shows it.
func Payload(ev *ent.Event) ([]byte, error) {
	return json.Marshal(struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		CreatedAt  string          `json:"createdAt"`
		ResellerID string          `json:"resellerID,omitempty"`
		ObjectID   string          `json:"objectID"`
		Object     json.RawMessage `json:"object"`
	}{ev.ID, ev.Type, ev.CreatedAt.UTC().Format(time.RFC3339Nano), ev.ResellerID, ev.ObjectID, ev.Object})
}

// quietRiver drops River's info-level chatter (start, stop, leadership) to
// debug; warnings and errors pass, each message at most once per
// riverRepeatEvery: while the database is down River's producer and
// elector log the same failure several times a second (67 lines in 15 s),
// burying whatever else the log says. The line that passes after a quiet
// spell counts the ones left out (repeats_not_logged).
type quietRiver struct {
	slog.Handler
	repeats *riverRepeats
}

// riverRepeatEvery is how often one River warning or error is logged.
const riverRepeatEvery = 30 * time.Second

type riverRepeats struct {
	mu   sync.Mutex
	last map[string]riverRepeat // by riverRepeatKey
}

type riverRepeat struct {
	at      time.Time
	dropped int
}

func newQuietRiver(h slog.Handler) quietRiver {
	return quietRiver{Handler: h, repeats: &riverRepeats{last: map[string]riverRepeat{}}}
}

func (q quietRiver) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelWarn {
		rec.Level = slog.LevelDebug
	}
	if !q.Handler.Enabled(ctx, rec.Level) {
		return nil
	}
	if rec.Level >= slog.LevelWarn {
		dropped, ok := q.repeats.pass(riverRepeatKey(rec), rec.Time)
		if !ok {
			return nil
		}
		if dropped > 0 {
			rec.AddAttrs(slog.Int("repeats_not_logged", dropped))
		}
	}
	return q.Handler.Handle(ctx, rec)
}

// riverRepeatKey is what makes two River lines the same line: the message,
// and for a job's failure what failed (its kind, its panic value). River
// logs every worker panic as one message, and two different bugs must not
// pass as one line and a count. The error text is not part of it: during an
// outage it names each new connection's port, and would let every repeat
// through.
func riverRepeatKey(rec slog.Record) string {
	key := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "kind", "job_kind", "panic_val":
			key += "\x00" + a.Key + "=" + a.Value.String()
		}
		return true
	})
	return key
}

// pass says whether a line (by its riverRepeatKey) logged at may be
// logged, and how many of it were left out since it last was.
func (r *riverRepeats) pass(msg string, at time.Time) (dropped int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, seen := r.last[msg]
	if seen && at.Sub(last.at) < riverRepeatEvery {
		last.dropped++
		r.last[msg] = last
		return 0, false
	}
	if len(r.last) >= 256 { // River's messages are a fixed set; never grow without bound
		clear(r.last)
	}
	r.last[msg] = riverRepeat{at: at}
	return last.dropped, true
}

func (q quietRiver) WithAttrs(a []slog.Attr) slog.Handler {
	return quietRiver{Handler: q.Handler.WithAttrs(a), repeats: q.repeats}
}
func (q quietRiver) WithGroup(n string) slog.Handler {
	return quietRiver{Handler: q.Handler.WithGroup(n), repeats: q.repeats}
}

// Metrics are the delivery series (registered by the server).
type Metrics struct {
	Attempts  *prometheus.CounterVec
	Duration  prometheus.Histogram
	Throttled prometheus.Counter
}

// NewMetrics makes the delivery series.
func NewMetrics() *Metrics {
	return &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clnd_webhook_attempts_total",
			Help: "Webhook delivery attempts by result: succeeded, http_error (an answer other than 2xx), no_answer (refused, timed out, address not allowed).",
		}, []string{"result"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clnd_webhook_attempt_duration_seconds",
			Help:    "How long webhook delivery attempts took.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		Throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clnd_webhook_throttled_total",
			Help: "Delivery attempts postponed because the endpoint already had its limit of attempts in flight on this instance.",
		}),
	}
}

// Collectors lists the series to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Attempts, m.Duration, m.Throttled}
}

func (m *Metrics) attempted(out outcome) {
	if m == nil {
		return
	}
	result := "succeeded"
	switch {
	case out.err != "" && out.status != nil:
		result = "http_error"
	case out.err != "":
		result = "no_answer"
	}
	m.Attempts.WithLabelValues(result).Inc()
	m.Duration.Observe(out.duration.Seconds())
}

func (m *Metrics) throttled() {
	if m != nil {
		m.Throttled.Inc()
	}
}
