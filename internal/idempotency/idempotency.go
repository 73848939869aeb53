// Package idempotency makes money-moving mutations safe to retry: the same
// key with the same input replays the first result and moves no money again;
// the same key with other input is IDEMPOTENCY_CONFLICT.
package idempotency

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/idempotencyrecord"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/viewer"
)

// TTL is how long a key is remembered.
const TTL = 24 * time.Hour

// MaxKeyLength bounds keys.
const MaxKeyLength = 255

type headerKey struct{}

// WithHeaderKey carries the Idempotency-Key HTTP header to the mutations.
func WithHeaderKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, headerKey{}, key)
}

// Key picks the request's key: the input's idempotencyKey, else the
// Idempotency-Key header; both given and different is BAD_USER_INPUT.
func Key(ctx context.Context, inputKey *string) (string, error) {
	header, _ := ctx.Value(headerKey{}).(string)
	key := header
	if inputKey != nil && *inputKey != "" {
		if header != "" && header != *inputKey {
			return "", apperr.Input("idempotencyKey", "idempotencyKey and the Idempotency-Key header differ")
		}
		key = *inputKey
	}
	key = strings.TrimSpace(key)
	if len(key) > MaxKeyLength {
		return "", apperr.Input("idempotencyKey", "an idempotency key has at most %d characters", MaxKeyLength)
	}
	return key, nil
}

// Do runs fn once per (owner, operation, key) within tx. With no key it just
// runs fn. The record is claimed before fn runs, so a concurrent request with
// the same key waits for this transaction and then replays its result; if
// this transaction rolls back, the claim goes with it and a retry runs anew
// (a failed attempt moved nothing, so there is nothing to replay).
//
// R is what is stored and replayed: keep it to IDs and plain values, and
// never secrets.
func Do[R any](ctx context.Context, tx *ent.Tx, owner, operation, key string, input any, fn func() (R, error)) (R, bool, error) {
	var zero R
	if key == "" {
		r, err := fn()
		return r, false, err
	}
	sys := viewer.SystemContext(ctx)
	hash, err := requestHash(input)
	if err != nil {
		return zero, false, err
	}
	now := clock.Now(ctx)
	// A key past its lifetime is free again.
	if _, err := tx.IdempotencyRecord.Delete().
		Where(idempotencyrecord.Owner(owner), idempotencyrecord.Operation(operation),
			idempotencyrecord.Key(key), idempotencyrecord.ExpiresAtLTE(now)).
		Exec(sys); err != nil {
		return zero, false, err
	}
	err = tx.IdempotencyRecord.Create().
		SetOwner(owner).
		SetOperation(operation).
		SetKey(key).
		SetRequestHash(hash).
		SetExpiresAt(now.Add(TTL)).
		OnConflictColumns(idempotencyrecord.FieldOwner, idempotencyrecord.FieldOperation, idempotencyrecord.FieldKey).
		DoNothing().
		Exec(sys)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return replay[R](sys, tx, owner, operation, key, hash)
	case err != nil:
		return zero, false, err
	}
	result, err := fn()
	if err != nil {
		return zero, false, err
	}
	body, err := json.Marshal(result)
	if err != nil {
		return zero, false, err
	}
	err = tx.IdempotencyRecord.Update().
		Where(idempotencyrecord.Owner(owner), idempotencyrecord.Operation(operation), idempotencyrecord.Key(key)).
		SetResponse(string(body)).
		Exec(sys)
	return result, false, err
}

func replay[R any](ctx context.Context, tx *ent.Tx, owner, operation, key string, hash []byte) (R, bool, error) {
	var zero R
	rec, err := tx.IdempotencyRecord.Query().
		Where(idempotencyrecord.Owner(owner), idempotencyrecord.Operation(operation), idempotencyrecord.Key(key)).
		Only(ctx)
	if err != nil {
		return zero, false, err
	}
	if string(rec.RequestHash) != string(hash) {
		return zero, false, apperr.New(apperr.IdempotencyConflict, "this idempotency key was used with different input")
	}
	if rec.Response == "" {
		return zero, false, apperr.New(apperr.Conflict, "a request with this idempotency key is still in progress")
	}
	var r R
	if err := json.Unmarshal([]byte(rec.Response), &r); err != nil {
		return zero, false, err
	}
	return r, true, nil
}

// requestHash fingerprints the input (without its key) as canonical JSON.
func requestHash(input any) ([]byte, error) {
	body, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return sum[:], nil
}
