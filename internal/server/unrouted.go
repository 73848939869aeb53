package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"clnd/internal/apperr"
)

// unroutedPattern is the mux's catch-all: it is served only when no other
// pattern takes the request.
const unroutedPattern = "/"

// probedMethods are the methods unrouted tries on a path to tell a method
// the path does not take (405) from a path nothing serves (404).
var probedMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// unrouted answers a request that no route of mux takes in GraphQL's error
// shape, as every refusal is (API.md): 404 NOT_FOUND for a path nothing
// serves, 405 with Allow for a method its route does not take. net/http's
// own answers are plain text ("404 page not found"). It is mounted as the
// catch-all pattern, so the mux still redirects to a subtree's slash and
// a routed request costs nothing more; the methods are probed only here.
func unrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, method := range probedMethods {
			if method == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = method
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != unroutedPattern {
				allowed = append(allowed, method)
			}
		}
		if len(allowed) > 0 {
			refuseMethod(w, r.Method, strings.Join(allowed, ", "))
			return
		}
		writeError(w, http.StatusNotFound, apperr.NotFoundf("nothing is served at this path: the API is /graphql (docs/schema.md)"))
	})
}

// refuseMethod answers 405 with Allow and a coded body.
func refuseMethod(w http.ResponseWriter, method, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, apperr.New(apperr.BadUserInput, "%s is not allowed here: use %s", method, allow))
}

// codedRefusals turns the plain-text 404, 405 and 503 of a handler that answers
// them with http.Error or http.NotFound (GraphiQL's assets, invoice PDFs,
// the checkout pages, the payment webhooks) into coded GraphQL errors; a
// 405 gets Allow: allow unless the handler set its own, a 503 (UNAVAILABLE)
// Retry-After. Anything else the
// handler writes passes through.
func codedRefusals(h http.Handler, allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&refusalWriter{ResponseWriter: w, method: r.Method, allow: allow}, r)
	})
}

type refusalWriter struct {
	http.ResponseWriter
	method, allow string
	// replaced: the handler's own body (http.Error's text) is dropped.
	replaced bool
}

func (w *refusalWriter) WriteHeader(status int) {
	plain := strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain")
	switch {
	case w.replaced:
		return
	case status == http.StatusNotFound && plain:
		w.replaced = true
		writeError(w.ResponseWriter, status, apperr.NotFoundf("not found"))
	case status == http.StatusServiceUnavailable && plain:
		w.replaced = true
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		writeError(w.ResponseWriter, status, apperr.New(apperr.Unavailable, "the database did not answer: retry later"))
	case status == http.StatusMethodNotAllowed && plain:
		w.replaced = true
		allow := w.Header().Get("Allow")
		if allow == "" {
			allow = w.allow
		}
		refuseMethod(w.ResponseWriter, w.method, allow)
	default:
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
