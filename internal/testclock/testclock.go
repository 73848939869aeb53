// Package testclock keeps sandbox mode's test clock in the database, so that
// every clnd instance shares one "now" and it survives restarts.
package testclock

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"clnd/ent"
	"clnd/ent/setting"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

const key = "sandbox.clock"

// Load returns the shared test clock, starting it at the current wall-clock
// second the first time any instance starts in sandbox mode.
func Load(ctx context.Context, client *ent.Client) (*clock.Frozen, error) {
	return LoadAt(ctx, client, clock.Wall().Truncate(time.Second))
}

// LoadAt is Load with the time a new clock starts at.
func LoadAt(ctx context.Context, client *ent.Client, start time.Time) (*clock.Frozen, error) {
	ctx = viewer.SystemContext(ctx)
	err := client.Setting.Create().
		SetID(key).
		SetValue(start.UTC().Format(time.RFC3339Nano)).
		OnConflictColumns(setting.FieldID).
		DoNothing().
		Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	stored, err := read(ctx, client)
	if err != nil {
		return nil, err
	}
	return clock.NewFrozen(stored), nil
}

func read(ctx context.Context, client *ent.Client) (time.Time, error) {
	s, err := client.Setting.Get(viewer.SystemContext(ctx), key)
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, s.Value)
}

// Advance moves the shared clock to `to` inside the caller's transaction
// and moves the in-memory clock once that transaction commits, then calls
// moved (the billing scheduler's kick), if any. Moving backward is
// BAD_USER_INPUT.
func Advance(ctx context.Context, tx *ent.Tx, c *clock.Frozen, to time.Time, moved func()) error {
	to = to.UTC()
	sys := viewer.SystemContext(ctx)
	// The row lock serialises concurrent advances across instances.
	s, err := tx.Setting.Query().Where(setting.ID(key)).Modify(store.ForUpdate).Only(sys)
	if err != nil {
		return err
	}
	current, err := time.Parse(time.RFC3339Nano, s.Value)
	if err != nil {
		return err
	}
	if to.Before(current) || to.Before(c.Now()) {
		return apperr.Input("to", "the test clock only moves forward: it is %s", current.Format(time.RFC3339))
	}
	if err := tx.Setting.UpdateOne(s).SetValue(to.Format(time.RFC3339Nano)).Exec(sys); err != nil {
		return err
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			c.Set(to)
			if moved != nil {
				moved()
			}
			return nil
		})
	})
	return nil
}

// Follow keeps c in step with advances made by other instances until ctx ends.
func Follow(ctx context.Context, client *ent.Client, c *clock.Frozen, every time.Duration, log *slog.Logger) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			t, err := read(ctx, client)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("reading the shared test clock", "err", err)
				}
				continue
			}
			c.Set(t)
		}
	}
}
