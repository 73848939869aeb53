package clnapi

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"clnd/ent"
	entclnsecret "clnd/ent/clnsecret"
	"clnd/ent/clntokenuse"
	"clnd/internal/apperr"
	"clnd/internal/clnsecret"
	"clnd/internal/clock"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// MaxSkew is how far a token's timestamp may be from clnd's wall clock, in
// either direction. It is checked against real time, in sandbox mode too
// (API.md section 8): clients sign with their own wall clock, and the
// check bounds how long a token must be remembered, not what billing sees.
const MaxSkew = 5 * time.Minute

// RateWindow is the window of the per-secret rate limit.
const RateWindow = time.Minute

// Reasons a token is refused, for the clnd_cln_api_refused_total metric.
const (
	refusedMissing = "malformed"
	refusedExpired = "expired"
	refusedInvalid = "invalid"
	refusedReplay  = "replayed"
	refusedRate    = "rate_limited"
	refusedOff     = "disabled"
)

// refusal is a token that does not authenticate, with its metric reason.
type refusal struct {
	err    *apperr.Error
	reason string
}

func (r *refusal) Error() string { return r.err.Message }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason string, code apperr.Code, format string, args ...any) *refusal {
	return &refusal{err: apperr.New(code, format, args...), reason: reason}
}

var errMalformed = refuse(refusedMissing, apperr.Unauthenticated,
	"send token=<login>|<unix seconds>|<sha1 hex of secret + seconds> (docs/cln-api.md)")

// errInvalid never says whether the login exists.
var errInvalid = refuse(refusedInvalid, apperr.Unauthenticated, "the token is invalid: wrong login or secret")

// caller is the reseller a token authenticated and the secret it signed with.
type caller struct {
	resellerID string
	secret     clnsecret.Candidate
}

// authenticate checks a token: its form, its timestamp against the wall
// clock, its digest against each of the login's secrets, then records it so
// that it is refused if it comes again (on any instance: the unique index
// decides) and counts it against the secret's rate limit.
func (h *Handler) authenticate(ctx context.Context, token string) (caller, error) {
	login, rest, ok := strings.Cut(token, "|")
	tsText, digest, ok2 := strings.Cut(rest, "|")
	if !ok || !ok2 || login == "" || len(digest) != sha1.Size*2 {
		return caller{}, errMalformed
	}
	signed, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || signed < 0 {
		return caller{}, errMalformed
	}
	now := clock.Wall()
	if skew := now.Sub(time.Unix(signed, 0)); skew > MaxSkew || skew < -MaxSkew {
		return caller{}, refuse(refusedExpired, apperr.Unauthenticated,
			"the token's timestamp %d is more than 5 minutes from the server's time (%d): sign each request with the current Unix time", signed, now.Unix())
	}
	want, err := hex.DecodeString(strings.ToLower(digest))
	if err != nil {
		return caller{}, errMalformed
	}
	if !h.Keyring.Enabled() {
		return caller{}, &refusal{err: clnsecret.ErrDisabled, reason: refusedOff}
	}
	r, candidates, err := clnsecret.ForLogin(ctx, h.Client, h.Keyring, strings.ToLower(login))
	if err != nil {
		return caller{}, err
	}
	var match *clnsecret.Candidate
	for i, c := range candidates {
		sum := sha1.Sum([]byte(c.Secret + tsText))
		// Every candidate is compared, in constant time each, so the time
		// taken says nothing about which one matched.
		if subtle.ConstantTimeCompare(sum[:], want) == 1 && match == nil {
			match = &candidates[i]
		}
	}
	if match == nil {
		return caller{}, errInvalid
	}
	if err := h.recordUse(ctx, match.ID, signed, now); err != nil {
		return caller{}, err
	}
	clnsecret.Used(ctx, h.Client, *match)
	return caller{resellerID: r.ID, secret: *match}, nil
}

// recordUse counts the secret's requests in the last RateWindow, refusing
// past the limit (a refused request is not recorded: it did nothing, and
// does not keep its client limited), then records the request. Count and
// insert are one step per secret: they run in a transaction holding the
// secret's row lock (PostgreSQL; SQLite's transactions hold the write lock),
// so a burst on any number of instances passes exactly the limit. A replay
// is refused by the unique index on (secret, timestamp) however the
// requests interleave.
func (h *Handler) recordUse(ctx context.Context, secretID string, signed int64, now time.Time) error {
	sys := viewer.SystemContext(ctx)
	h.prune(sys, now)
	// A minute past the token's own expiry: an instance whose clock runs
	// ahead must not prune a use that a slower one would still accept.
	keep := time.Unix(signed, 0).Add(MaxSkew + time.Minute)
	if k := now.Add(RateWindow); k.After(keep) {
		keep = k
	}
	err := store.InTx(sys, h.Client, func(tx *ent.Tx) error {
		if limit := h.rateLimit(); limit > 0 {
			// A secret revoked meanwhile is no row to lock: the request,
			// authenticated before, still goes through, as it would have
			// a moment earlier.
			if _, err := tx.CLNSecret.Query().Where(entclnsecret.ID(secretID)).Modify(store.ForUpdate).All(sys); err != nil {
				return err
			}
			n, err := tx.CLNTokenUse.Query().
				Where(clntokenuse.SecretID(secretID), clntokenuse.UsedAtGT(now.Add(-RateWindow))).
				Count(sys)
			if err != nil {
				return err
			}
			if n >= limit {
				return refuse(refusedRate, apperr.RateLimited,
					"more than %d requests a minute with this secret: slow down and retry in a minute", limit)
			}
		}
		return tx.CLNTokenUse.Create().
			SetSecretID(secretID).
			SetSignedAt(signed).
			SetUsedAt(now).
			SetKeepUntil(keep.UTC()).
			Exec(sys)
	})
	if ent.IsConstraintError(err) {
		return refuse(refusedReplay, apperr.Unauthenticated,
			"the token was used before: a token is good for one request; sign the next one with the next second")
	}
	return err
}

// pruneEvery is how often an instance deletes the token uses nobody needs
// any more (expired tokens, outside the rate window).
const pruneEvery = time.Minute

func (h *Handler) prune(sys context.Context, now time.Time) {
	last := h.pruned.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !h.pruned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := h.Client.CLNTokenUse.Delete().Where(clntokenuse.KeepUntilLT(now)).Exec(sys); err != nil && h.Log != nil {
		h.Log.WarnContext(sys, "pruning used CLN API tokens", "err", err)
	}
}

func (h *Handler) rateLimit() int {
	if h.RateLimit == 0 {
		return DefaultRateLimit
	}
	return h.RateLimit
}

// DefaultRateLimit is requests a minute per secret when none is configured;
// a negative limit turns the limit off.
const DefaultRateLimit = 120
