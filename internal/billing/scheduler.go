package billing

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"clnd/ent"
	"clnd/ent/setting"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

const lastBilledKey = "billing.last_period"

// Scheduler bills every month once it has ended, by the business clock: on
// the 1st in production, and in sandbox mode as soon as advanceClock passes
// a month's end. Every instance may run one; invoices are unique per
// reseller and month, so they cannot bill twice.
type Scheduler struct {
	Client *ent.Client
	Clock  clock.Clock
	After  AfterCharge
	Log    *slog.Logger
	kick   chan struct{}
}

// NewScheduler returns a scheduler; Start runs it.
func NewScheduler(client *ent.Client, c clock.Clock, after AfterCharge, log *slog.Logger) *Scheduler {
	return &Scheduler{Client: client, Clock: c, After: after, Log: log, kick: make(chan struct{}, 1)}
}

// Kick asks for a check now (the test clock just moved).
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start checks once a minute (and when kicked) until ctx ends.
func (s *Scheduler) Start(ctx context.Context) {
	ticker := time.NewTicker(time.Minute)
	defer ticker.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("monthly billing", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.kick:
		}
	}
}

// Tick bills the months that ended since the last one billed (at most a
// year back; on a fresh database, only the month that ended last).
func (s *Scheduler) Tick(ctx context.Context) error {
	ctx = clock.NewContext(viewer.SystemContext(ctx), s.Clock)
	latest := Month(s.Clock.Now()).Start.AddDate(0, -1, 0) // the last month that has ended
	next := Month(latest)
	last, err := s.Client.Setting.Get(ctx, lastBilledKey)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return err
	default:
		if p, err := ParseMonth(last.Value); err == nil {
			next = Month(p.End)
		}
	}
	if oldest := Month(latest.AddDate(-1, 0, 0)); next.Start.Before(oldest.Start) {
		next = oldest
	}
	// Every month is billed even if an earlier one had failures; the record
	// only moves past months that billed completely, so the failed
	// resellers are retried on the next tick (the others are skipped fast).
	var failed error
	for ; !next.Start.After(latest); next = Month(next.End) {
		// Checked before each month: a hold taken while this tick bills
		// stops it at the next month.
		if holder, err := heldBy(ctx, s.Client); err != nil || holder != "" {
			if holder != "" {
				s.Log.Info("monthly billing waits for a hold", "period", next.String(), "held_by", holder)
			}
			return err
		}
		invoices, err := BillPeriod(ctx, s.Client, next, s.After, s.Log)
		s.Log.Info("monthly billing", "period", next.String(), "invoices", len(invoices))
		switch {
		case err != nil && failed == nil:
			failed = err
		case err == nil && failed == nil:
			if err := s.record(ctx, next); err != nil {
				return err
			}
		}
	}
	return failed
}

func (s *Scheduler) record(ctx context.Context, p Period) error {
	err := s.Client.Setting.Create().
		SetID(lastBilledKey).
		SetValue(p.String()).
		OnConflictColumns(setting.FieldID).
		UpdateNewValues().
		Exec(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}
