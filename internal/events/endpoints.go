package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/reseller"
	"clnd/ent/webhookdelivery"
	"clnd/ent/webhookendpoint"
	"clnd/internal/apperr"
	"clnd/internal/clock"
	"clnd/internal/ids"
	"clnd/internal/publicip"
	"clnd/internal/sealed"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Endpoint limits.
const (
	MaxEndpoints   = 16 // per reseller, and for operators' global ones
	maxURLLength   = 2048
	maxDescription = 500
	maxEventTypes  = 64
	DefaultGrace   = 24 * time.Hour
	// MaxGraceHours bounds a rotation's grace period.
	MaxGraceHours     = 168
	maxGrace          = MaxGraceHours * time.Hour
	secretPrefix      = "whsec_"
	secretRandomBytes = 32
	// globalEndpointsLock is the advisory lock of operators' endpoint creates.
	globalEndpointsLock = 7_235_641_011
)

// Webhooks manages endpoints: what the GraphQL mutations call.
type Webhooks struct {
	// Keyring seals signing secrets; without a key endpoints cannot be made.
	Keyring sealed.Keyring
	// AllowPrivate lets endpoints use http and non-public addresses
	// (--webhooks-allow-private: tests and local development).
	AllowPrivate bool
	// Sandbox lets endpoints use http (partners test against a laptop tunnel).
	Sandbox bool
}

// NewEndpoint is createWebhookEndpoint's input.
type NewEndpoint struct {
	URL         string
	Events      []string
	Description string
	// ResellerID (operators only) scopes the endpoint to one reseller;
	// empty for an operator is a global endpoint.
	ResellerID string
}

// EndpointChange is updateWebhookEndpoint's input: nil leaves a field alone.
type EndpointChange struct {
	URL         *string
	Events      []string
	Description *string
	Enabled     *bool
}

var errNoKey = apperr.New(apperr.Forbidden, "webhooks are not enabled on this server: the operator must set "+sealed.KeyEnv)

// fromSession refuses API tokens where an endpoint would be pointed somewhere
// or its secret shown: a leaked token must not plant a webhook that keeps
// receiving every event after the token is revoked (like CLN API secrets).
func fromSession(ctx context.Context) error {
	v := viewer.FromContext(ctx)
	if v.Role == viewer.Reseller && v.SessionID == "" {
		return apperr.New(apperr.Forbidden, "webhook endpoints are created, re-pointed and given new secrets from a login session, not with an API token")
	}
	return nil
}

// CreateEndpoint adds an endpoint and returns its secret, shown only now.
func (w Webhooks) CreateEndpoint(ctx context.Context, tx *ent.Tx, in NewEndpoint) (*ent.WebhookEndpoint, string, error) {
	if !w.Keyring.Enabled() {
		return nil, "", errNoKey
	}
	if err := fromSession(ctx); err != nil {
		return nil, "", err
	}
	v := viewer.FromContext(ctx)
	owner := v.ResellerID
	switch {
	case v.Role == viewer.Reseller && in.ResellerID != "":
		return nil, "", apperr.Input("resellerID", "only operators choose an endpoint's reseller")
	case v.Role != viewer.Reseller && in.ResellerID != "":
		if _, err := tx.Reseller.Query().Where(reseller.ID(in.ResellerID)).Only(ctx); ent.IsNotFound(err) {
			return nil, "", apperr.NotFoundf("no reseller with ID %q", in.ResellerID)
		} else if err != nil {
			return nil, "", err
		}
		owner = in.ResellerID
	}
	u, err := w.checkURL("url", in.URL)
	if err != nil {
		return nil, "", err
	}
	types, err := checkTypes("events", in.Events)
	if err != nil {
		return nil, "", err
	}
	if err := checkDescription(in.Description); err != nil {
		return nil, "", err
	}
	// The owner's row lock (operators: the endpoints they would add to)
	// makes count-then-insert safe against a concurrent create.
	if owner != "" {
		if _, err := tx.Reseller.Query().Where(reseller.ID(owner)).Modify(store.ForUpdate).Only(viewer.SystemContext(ctx)); err != nil {
			return nil, "", err
		}
	} else if tx.Dialect() == dialect.Postgres {
		// Global endpoints have no owner row: a transaction-scoped advisory
		// lock serialises their creates (SQLite's writers are serial anyway).
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, globalEndpointsLock); err != nil {
			return nil, "", err
		}
	}
	n, err := tx.WebhookEndpoint.Query().Where(webhookendpoint.ResellerID(owner)).Count(viewer.SystemContext(ctx))
	if err != nil {
		return nil, "", err
	}
	if n >= MaxEndpoints {
		return nil, "", apperr.New(apperr.LimitReached, "at most %d webhook endpoints; delete one first", MaxEndpoints)
	}
	secret, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	id := ids.New("whe")
	seal, err := w.Keyring.Seal(id, secret)
	if err != nil {
		return nil, "", err
	}
	ep, err := tx.WebhookEndpoint.Create().
		SetID(id).
		SetResellerID(owner).
		SetURL(u).
		SetEvents(types).
		SetDescription(in.Description).
		SetSecret(seal).
		Save(viewer.SystemContext(ctx))
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// UpdateEndpoint changes an endpoint. Disabling cancels its pending
// deliveries; enabling clears what clnd recorded of its failures.
func (w Webhooks) UpdateEndpoint(ctx context.Context, tx *ent.Tx, id string, c EndpointChange) (*ent.WebhookEndpoint, error) {
	ep, err := lockEndpoint(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	upd := tx.WebhookEndpoint.UpdateOne(ep)
	if c.URL != nil {
		if err := fromSession(ctx); err != nil {
			return nil, err
		}
		u, err := w.checkURL("url", *c.URL)
		if err != nil {
			return nil, err
		}
		upd.SetURL(u)
	}
	if c.Events != nil {
		types, err := checkTypes("events", c.Events)
		if err != nil {
			return nil, err
		}
		upd.SetEvents(types)
	}
	if c.Description != nil {
		if err := checkDescription(*c.Description); err != nil {
			return nil, err
		}
		upd.SetDescription(*c.Description)
	}
	if c.Enabled != nil {
		upd.SetEnabled(*c.Enabled).SetDisabledReason("")
		if *c.Enabled {
			upd.ClearFailingSince()
		} else if err := cancelPending(ctx, tx, ep.ID); err != nil {
			return nil, err
		}
	}
	return upd.Save(ctx)
}

// RotateSecret makes a new secret; the current one keeps signing beside it
// for grace (by clnd's clock).
func (w Webhooks) RotateSecret(ctx context.Context, tx *ent.Tx, id string, grace time.Duration) (*ent.WebhookEndpoint, string, error) {
	if !w.Keyring.Enabled() {
		return nil, "", errNoKey
	}
	if grace < 0 || grace > maxGrace {
		return nil, "", apperr.Input("graceHours", "the grace period is 0 to %d hours", int(maxGrace.Hours()))
	}
	if err := fromSession(ctx); err != nil {
		return nil, "", err
	}
	ep, err := lockEndpoint(ctx, tx, id)
	if err != nil {
		return nil, "", err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	seal, err := w.Keyring.Seal(ep.ID, secret)
	if err != nil {
		return nil, "", err
	}
	upd := tx.WebhookEndpoint.UpdateOne(ep).SetSecret(seal)
	if grace > 0 {
		upd.SetPreviousSecret(ep.Secret).SetPreviousSecretExpiresAt(clock.Now(ctx).Add(grace))
	} else {
		upd.ClearPreviousSecret().ClearPreviousSecretExpiresAt()
	}
	ep, err = upd.Save(ctx)
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// DeleteEndpoint deletes an endpoint and its deliveries; jobs still queued
// for them find nothing to do.
func DeleteEndpoint(ctx context.Context, tx *ent.Tx, id string) error {
	// FOR UPDATE, not the NO KEY UPDATE of lockEndpoint: it waits for the
	// events being written for this endpoint (they hold KEY SHARE), whose
	// deliveries are then deleted too.
	ep, err := tx.WebhookEndpoint.Query().Where(webhookendpoint.ID(id)).Modify(func(s *sql.Selector) {
		if s.Dialect() == dialect.Postgres {
			s.For(sql.LockUpdate)
		}
	}).Only(ctx)
	if ent.IsNotFound(err) {
		return apperr.NotFoundf("no webhook endpoint with ID %q", id)
	} else if err != nil {
		return err
	}
	if _, err := tx.WebhookDelivery.Delete().Where(webhookdelivery.EndpointID(ep.ID)).Exec(ctx); err != nil {
		return err
	}
	return tx.WebhookEndpoint.DeleteOne(ep).Exec(ctx)
}

// Redeliver queues the event of deliveryID to its endpoint again, as a new
// delivery attempted at once.
func Redeliver(ctx context.Context, tx *ent.Tx, deliveryID string) (*ent.WebhookDelivery, error) {
	d, err := tx.WebhookDelivery.Query().Where(webhookdelivery.ID(deliveryID)).WithEvent().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no webhook delivery with ID %q", deliveryID)
	} else if err != nil {
		return nil, err
	}
	ep, err := lockEndpoint(ctx, tx, d.EndpointID)
	if err != nil {
		return nil, err
	}
	if !ep.Enabled {
		return nil, apperr.New(apperr.Conflict, "the endpoint is disabled; enable it with updateWebhookEndpoint first")
	}
	made, err := enqueue(viewer.SystemContext(ctx), tx, []delivery{{event: d.Edges.Event, endpoint: ep}})
	if err != nil {
		return nil, err
	}
	return made[0], nil
}

// lockEndpoint reads one of the caller's endpoints for update: another
// tenant's is NOT_FOUND, like one that does not exist.
func lockEndpoint(ctx context.Context, tx *ent.Tx, id string) (*ent.WebhookEndpoint, error) {
	ep, err := tx.WebhookEndpoint.Query().Where(webhookendpoint.ID(id)).Modify(store.ForUpdate).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no webhook endpoint with ID %q", id)
	}
	return ep, err
}

// cancelPending stops the pending deliveries of an endpoint.
func cancelPending(ctx context.Context, tx *ent.Tx, endpointID string) error {
	return tx.WebhookDelivery.Update().
		Where(webhookdelivery.EndpointID(endpointID), webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING)).
		SetStatus(webhookdelivery.StatusCANCELED).
		ClearNextAttemptAt().
		Exec(viewer.SystemContext(ctx))
}

// checkURL accepts an absolute https URL with a host and no credentials
// (http too when private addresses or sandbox mode are allowed). An address
// literal that is not public is refused now; host names are checked at every
// delivery, when they are resolved.
func (w Webhooks) checkURL(field, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxURLLength {
		return "", apperr.Input(field, "the URL is longer than %d characters", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", apperr.Input(field, "want an absolute URL such as https://example.com/clnd-events")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (w.AllowPrivate || w.Sandbox):
	case u.Scheme == "http":
		return "", apperr.Input(field, "webhook URLs must use https")
	default:
		return "", apperr.Input(field, "webhook URLs use https (not %q)", u.Scheme)
	}
	if u.User != nil {
		return "", apperr.Input(field, "the URL must not carry a user name or password")
	}
	if u.Fragment != "" {
		return "", apperr.Input(field, "the URL must not have a #fragment")
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !w.AllowPrivate {
		if reason := publicip.NotPublic(a.Unmap(), false); reason != "" {
			return "", apperr.Input(field, "%s %s; webhooks go to public addresses only", a, reason)
		}
	}
	return u.String(), nil
}

// checkTypes validates and de-duplicates a list of event types.
func checkTypes(field string, types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, apperr.Input(field, "name at least one event type, or \"*\" for every type")
	}
	if len(types) > maxEventTypes {
		return nil, apperr.Input(field, "at most %d event types", maxEventTypes)
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if t != AllTypes && !Known(t) {
			return nil, apperr.Input(field, "unknown event type %q (docs/events.md lists them)", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func checkDescription(d string) error {
	if utf8.RuneCountInString(d) > maxDescription {
		return apperr.Input("description", "at most %d characters", maxDescription)
	}
	return nil
}

func newSecret() (string, error) {
	var b [secretRandomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return secretPrefix + hex.EncodeToString(b[:]), nil
}

// CheckTypeFilter validates the events query's types filter: known types,
// at most as many as there are.
func CheckTypeFilter(field string, types []string) error {
	if len(types) > len(Types) {
		return apperr.Input(field, "at most %d event types", len(Types))
	}
	for _, t := range types {
		if !Known(t) {
			return apperr.Input(field, "unknown event type %q (docs/events.md lists them)", t)
		}
	}
	return nil
}
