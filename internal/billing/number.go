package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"clnd/ent"
	"clnd/ent/setting"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

const invoiceSequenceKey = "invoice.sequence"

// NextInvoiceNumber hands out gap-free invoice numbers ("2026-000042") in
// tx. The sequence row stays locked until tx ends, so numbers are never
// handed out twice, and a rolled-back invoice gives its number back.
// Callers lock the reseller's row first (see RecordPayment): one lock order
// everywhere, so money transactions cannot deadlock on the two.
func NextInvoiceNumber(ctx context.Context, tx *ent.Tx, at time.Time) (string, error) {
	sys := viewer.SystemContext(ctx)
	err := tx.Setting.Create().
		SetID(invoiceSequenceKey).
		SetValue("0").
		OnConflictColumns(setting.FieldID).
		DoNothing().
		Exec(sys)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	s, err := tx.Setting.Query().Where(setting.ID(invoiceSequenceKey)).Modify(store.ForUpdate).Only(sys)
	if err != nil {
		return "", err
	}
	n, err := strconv.ParseInt(s.Value, 10, 64)
	if err != nil {
		return "", fmt.Errorf("invoice sequence %q: %w", s.Value, err)
	}
	n++
	if err := tx.Setting.UpdateOne(s).SetValue(strconv.FormatInt(n, 10)).Exec(sys); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%06d", at.Year(), n), nil
}
