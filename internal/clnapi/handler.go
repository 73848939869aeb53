// Package clnapi answers the CLN reseller REST API under /api/
// (docs/cln-api.md): the calls that existing CloudLinux Network integrations
// (billing panel modules, client libraries) make, so that a reseller moves
// to clnd by changing one base URL. It holds no rules of its own: each
// endpoint calls the same internal/<domain> functions as the GraphQL
// resolvers, in one transaction, as the reseller's viewer, so tenant
// isolation (ent/schema/privacy.go), address rules, CONFLICTs,
// PAYMENT_REQUIRED and billing are exactly GraphQL's.
package clnapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"clnd/ent"
	"clnd/internal/apperr"
	"clnd/internal/licensing"
	"clnd/internal/sealed"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Prefix is where the API is mounted.
const Prefix = "/api/"

// Handler serves the API.
type Handler struct {
	Client  *ent.Client
	Keyring sealed.Keyring
	// Sandbox accepts the documentation address ranges, as GraphQL does in
	// sandbox mode.
	Sandbox     bool
	BackupSizes licensing.BackupSizes
	// RateLimit is requests a minute per secret; DefaultRateLimit when
	// zero, none when negative.
	RateLimit int
	// Present turns an error into the code and message a client sees: the
	// server's one error presenter (unknown errors are logged and shown as
	// INTERNAL with the request id).
	Present func(ctx context.Context, err error) (apperr.Code, string)
	// Refused counts a request refused for its token, by reason.
	Refused func(reason string)
	Log     *slog.Logger

	pruned atomic.Int64 // wall time of this instance's last prune, Unix ns
}

// endpoint is one call: it runs in a transaction as the caller.
type endpoint func(h *Handler, ctx context.Context, tx *ent.Tx, p params) (any, error)

// endpoints are the calls by path.
var endpoints = map[string]endpoint{
	"ipl/availability.json": iplAvailability,
	"ipl/check.json":        iplCheck,
	"ipl/register.json":     iplRegister,
	"ipl/remove.json":       iplRemove,
	"ipl/list.json":         iplList,
	"ipl/server.json":       iplServer,
	"ab/list.json":          abList,
	"ab/im/create.json":     abCreate,
	"ab/resize.json":        abResize,
	"ab/remove.json":        abRemove,
	"ab/datacenters.json":   abDatacenters,
}

// Routes are the API's paths with their handlers, each mounted (and
// counted in the metrics) on its own; Prefix itself answers unknown calls.
func (h *Handler) Routes() map[string]http.Handler {
	out := make(map[string]http.Handler, len(endpoints)+1)
	for path, fn := range endpoints {
		out[Prefix+path] = h.serve(path, fn)
	}
	out[Prefix] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, apperr.NotFoundf("no such call %s: see docs/cln-api.md for the calls clnd answers", r.URL.Path))
	})
	return out
}

// MaxBodyBytes bounds a POSTed form: every call's parameters fit in a few
// hundred bytes.
const MaxBodyBytes = 64 << 10

func (h *Handler) serve(path string, fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			h.writeStatus(w, http.StatusMethodNotAllowed, apperr.BadUserInput, "send GET with query parameters, or POST a form")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				h.writeStatus(w, http.StatusRequestEntityTooLarge, apperr.BadUserInput, fmt.Sprintf("the form is over %d bytes", MaxBodyBytes))
				return
			}
			h.fail(w, r, apperr.New(apperr.BadUserInput, "the parameters could not be read: send a query string or a form (application/x-www-form-urlencoded)"))
			return
		}
		p := params(r.Form)
		ctx := r.Context()
		who, err := h.authenticate(ctx, r.Form.Get("token"))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		// From here on the request is the reseller's, as a READ_WRITE API
		// token would be: tenant isolation applies below, as for GraphQL.
		ctx = viewer.NewContext(ctx, viewer.Viewer{
			Role: viewer.Reseller, ResellerID: who.resellerID, Scope: viewer.ScopeReadWrite, TokenID: who.secret.ID,
		})
		var data any
		err = store.InTx(ctx, h.Client, func(tx *ent.Tx) error {
			var err error
			data, err = fn(h, ctx, tx, p)
			return err
		})
		if err != nil {
			h.fail(w, r.WithContext(ctx), err)
			return
		}
		writeJSON(w, http.StatusOK, success{Success: true, Data: data})
	})
}

// fail answers {"success": false, "message": ..., "code": ...} with the
// status of the code (docs/cln-api.md, Errors).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ref *refusal
	if errors.As(err, &ref) && h.Refused != nil {
		h.Refused(ref.reason)
	}
	code, message := apperr.Internal, "internal error"
	if h.Present != nil {
		code, message = h.Present(r.Context(), err)
	} else if e, ok := apperr.As(err); ok {
		code, message = e.Code, e.Message
	}
	if code == apperr.RateLimited {
		w.Header().Set("Retry-After", strconv.Itoa(int(RateWindow/time.Second)))
	}
	if code == apperr.Unavailable {
		w.Header().Set("Retry-After", "5")
	}
	h.writeStatus(w, StatusOf(code), code, message)
}

func (h *Handler) writeStatus(w http.ResponseWriter, status int, code apperr.Code, message string) {
	writeJSON(w, status, failure{Message: message, Code: string(code)})
}

// success and failure are the two answers, their keys in CLN's order.
type success struct {
	Success bool `json:"success"`
	Data    any  `json:"data"`
}

type failure struct {
	Success bool   `json:"success"` // false
	Message string `json:"message"`
	Code    string `json:"code"`
}

// FailureBody is the body of a failure answered outside the handler (a
// request past its deadline), as the handler writes it.
func FailureBody(code apperr.Code, message string) []byte {
	body, _ := json.Marshal(failure{Message: message, Code: string(code)})
	return append(body, '\n')
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// StatusOf is the HTTP status of an error code. CLN clients read success
// and message whatever the status; the status is for proxies, logs and
// clients that look.
func StatusOf(code apperr.Code) int {
	switch code {
	case apperr.BadUserInput:
		return http.StatusBadRequest
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.PaymentRequired:
		return http.StatusPaymentRequired
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict, apperr.LimitReached:
		return http.StatusConflict
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
