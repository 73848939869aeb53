// Package clnsecret keeps resellers' secrets for the CLN reseller REST API
// (internal/clnapi). The protocol proves a request with sha1(secret + ts),
// so clnd must recover each secret's plaintext: secrets are sealed with the
// server key (internal/sealed, CLND_SECRETS_KEY), not hashed, and shown to
// the reseller once, when made.
package clnsecret

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"clnd/ent"
	"clnd/ent/clnsecret"
	"clnd/ent/reseller"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/sealed"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// ErrDisabled answers everything about CLN secrets on a server started
// without a key outside sandbox mode.
var ErrDisabled = apperr.New(apperr.Forbidden, "the CLN API is not enabled on this server: the operator must set "+sealed.KeyEnv)

// MaxPerReseller bounds one reseller's secrets: enough to rotate (make the
// new one, move the integrations, revoke the old one) with room to spare.
const MaxPerReseller = 5

// Create makes a secret for the calling reseller and returns it in plain
// text, which is shown only now. Like API tokens, secrets are made from a
// login session only, so a leaked API token cannot mint a CLN credential.
func Create(ctx context.Context, tx *ent.Tx, k sealed.Keyring) (*ent.CLNSecret, string, error) {
	if !k.Enabled() {
		return nil, "", ErrDisabled
	}
	v := viewer.FromContext(ctx)
	if v.Role != viewer.Reseller || v.SessionID == "" {
		return nil, "", apperr.New(apperr.Forbidden, "CLN API secrets are managed from a login session, not with an API token")
	}
	// The reseller's row lock makes count-then-insert safe against a
	// concurrent create.
	if _, err := tx.Reseller.Query().Where(reseller.ID(v.ResellerID)).Modify(store.ForUpdate).Only(ctx); err != nil {
		return nil, "", err
	}
	count, err := tx.CLNSecret.Query().Count(ctx)
	if err != nil {
		return nil, "", err
	}
	if count >= MaxPerReseller {
		return nil, "", apperr.New(apperr.LimitReached, "a reseller has at most %d CLN API secrets; revoke one first", MaxPerReseller)
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", err
	}
	// Hex: it goes into shell lines and sha1 input as it is.
	secret := hex.EncodeToString(raw[:])
	id := ids.New("cls")
	// The row's ID binds the sealed value to this row: copied into another
	// reseller's row, it does not open.
	box, err := k.Seal(id, secret)
	if err != nil {
		return nil, "", err
	}
	row, err := tx.CLNSecret.Create().
		SetID(id).
		SetResellerID(v.ResellerID).
		SetSealed(box).
		Save(ctx)
	if err != nil {
		return nil, "", err
	}
	return row, secret, nil
}

// List is the caller's secrets, oldest first (an operator's: everyone's, or
// resellerID's when it is not empty).
func List(ctx context.Context, client *ent.Client, resellerID string) ([]*ent.CLNSecret, error) {
	q := client.CLNSecret.Query().Order(clnsecret.ByCreatedAt(), clnsecret.ByID())
	if resellerID != "" {
		q.Where(clnsecret.ResellerID(resellerID))
	}
	return q.All(ctx)
}

// Revoke deletes one of the caller's secrets; tokens signed with it stop
// working at once. Another tenant's secret is NOT_FOUND, like one that
// does not exist.
func Revoke(ctx context.Context, tx *ent.Tx, id string) error {
	err := tx.CLNSecret.DeleteOneID(id).Exec(ctx)
	if ent.IsNotFound(err) {
		return apperr.NotFoundf("no CLN API secret with ID %q", id)
	}
	return err
}

// Candidate is one of a reseller's secrets, opened, for checking a token.
type Candidate struct {
	ID, Secret string
	LastUsedAt *time.Time
}

// ForLogin finds the live reseller with the login and opens its secrets.
// It reads above tenant isolation (the caller is not known until a token
// checks out) and returns nothing of another reseller to anyone: the
// caller compares digests and keeps only the match. An unknown login has no
// candidates, exactly like a login without secrets.
func ForLogin(ctx context.Context, client *ent.Client, k sealed.Keyring, login string) (*ent.Reseller, []Candidate, error) {
	if !k.Enabled() {
		return nil, nil, ErrDisabled
	}
	sys := viewer.SystemContext(ctx)
	r, err := client.Reseller.Query().Where(reseller.Login(login)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rows, err := client.CLNSecret.Query().Where(clnsecret.ResellerID(r.ID)).Order(clnsecret.ByID()).All(sys)
	if err != nil {
		return nil, nil, err
	}
	// A secret that does not open (sealed under another key) is skipped, so
	// it cannot lock the login's other secrets out; when none opens, the
	// error says why (CLND_SECRETS_KEY changed).
	out := make([]Candidate, 0, len(rows))
	var unopened error
	for _, row := range rows {
		s, err := k.Open(row.ID, row.Sealed)
		if err != nil {
			unopened = err
			continue
		}
		out = append(out, Candidate{ID: row.ID, Secret: s, LastUsedAt: row.LastUsedAt})
	}
	if len(out) == 0 && unopened != nil {
		return nil, nil, unopened
	}
	return r, out, nil
}

// lastUsedGranularity limits lastUsedAt writes to one per secret per minute.
const lastUsedGranularity = time.Minute

// Used stamps a secret's lastUsedAt (by the business clock, like API
// tokens), at most once a minute.
func Used(ctx context.Context, client *ent.Client, c Candidate) {
	now := clock.Now(ctx)
	if c.LastUsedAt != nil && now.Sub(*c.LastUsedAt) < lastUsedGranularity {
		return
	}
	_ = client.CLNSecret.UpdateOneID(c.ID).SetLastUsedAt(now).Exec(viewer.SystemContext(ctx))
}
