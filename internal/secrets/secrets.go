// Package secrets keeps the keys clnd signs things with (backup links,
// payment webhooks) in the database: made once, shared by every instance.
package secrets

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"

	"clnd/ent"
	"clnd/ent/setting"
	"clnd/internal/viewer"
)

// Names of the secrets.
const (
	BackupLinks    = "secret.backup_links"
	SandboxWebhook = "secret.webhook.sandbox"
	// InvoiceLinks signs invoice download links; clnd's alone (the backup
	// links' secret is shared with the backup service).
	InvoiceLinks = "secret.invoice_links"
)

// Get returns the named secret, making it on first use.
func Get(ctx context.Context, client *ent.Client, name string) ([]byte, error) {
	ctx = viewer.SystemContext(ctx)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	err := client.Setting.Create().
		SetID(name).
		SetValue(hex.EncodeToString(b[:])).
		OnConflictColumns(setting.FieldID).
		DoNothing().
		Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	s, err := client.Setting.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(s.Value)
}
