package billing

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/setting"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

const holdKey = "billing.hold"

// HoldTTL is how long a hold lasts unless renewed: a holder that died
// (a killed `clnd seed --bench`) keeps the schedulers waiting no longer.
const HoldTTL = 10 * time.Minute

// Hold keeps every instance's scheduler from billing while a bulk writer
// (`clnd seed --bench`) fills the database: a scheduler that ran meanwhile
// would invoice a month from the part written so far, record the month as
// billed, and never bill the rest. The hold is a settings row, so it reaches
// schedulers in other processes; renew it more often than HoldTTL, and
// release it when done. Explicit runs (`clnd bill`, runBilling) ignore it.
func Hold(ctx context.Context, client *ent.Client, holder string) error {
	ctx = viewer.SystemContext(ctx)
	err := client.Setting.Create().
		SetID(holdKey).
		SetValue(clock.Wall().Format(time.RFC3339Nano) + " " + holder).
		OnConflictColumns(setting.FieldID).
		UpdateNewValues().
		Exec(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// Release ends a hold.
func Release(ctx context.Context, client *ent.Client) error {
	_, err := client.Setting.Delete().Where(setting.ID(holdKey)).Exec(viewer.SystemContext(ctx))
	return err
}

// heldBy names the holder of a live hold, or "" when billing may run.
func heldBy(ctx context.Context, client *ent.Client) (string, error) {
	s, err := client.Setting.Get(ctx, holdKey)
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	stamp, holder, _ := strings.Cut(s.Value, " ")
	since, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil || clock.Wall().Sub(since) > HoldTTL {
		return "", nil // unreadable or expired: its holder is gone
	}
	return holder, nil
}
