package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"clnd/internal/apperr"
)

// Bounds of the persisted-query cache: far more documents than the
// dashboards and agents send, and a memory cost that does not depend on
// what clients choose to register (a body may be a megabyte).
const (
	persistedQueryEntries = 4096
	persistedQueryBytes   = 16 << 20
)

// persistedQueries is Apollo's automatic persisted queries protocol
// (extensions.persistedQuery {version: 1, sha256Hash}), gqlgen's
// extension.AutomaticPersistedQuery with two changes:
//
//   - A document is remembered only once it has parsed and validated (its
//     registration waits in the operation context until then), so the cache
//     holds working queries, never what a client made up.
//   - Its errors carry API.md's codes: an unknown hash answers
//     PERSISTED_QUERY_NOT_FOUND with the message "PersistedQueryNotFound"
//     (what Apollo's clients match before sending the query with its hash);
//     a hash that is not the query's SHA-256, another version or a malformed
//     extension are BAD_USER_INPUT.
//
// It runs first among the parameter mutators: the document limits and
// gqlgen's parse (through the parsed-document cache) then see the query
// text whether it came in the request or from here. One instance serves
// every transport (POST, GET with an `extensions` parameter, websocket, SSE).
type persistedQueries struct {
	apq   extension.AutomaticPersistedQuery
	cache *boundedCache[string]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = &persistedQueries{}

func newPersistedQueries() *persistedQueries {
	p := &persistedQueries{cache: newBoundedCache(persistedQueryEntries, persistedQueryBytes,
		func(hash, query string) int { return len(hash) + len(query) })}
	p.apq.Cache = registrationCache{p.cache}
	return p
}

func (*persistedQueries) ExtensionName() string { return "PersistedQueries" }

func (p *persistedQueries) Validate(es graphql.ExecutableSchema) error { return p.apq.Validate(es) }

func (p *persistedQueries) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	ext, ok := params.Extensions["persistedQuery"].(map[string]any)
	if !ok {
		if params.Extensions["persistedQuery"] != nil {
			return persistedInput("", "extensions.persistedQuery must be an object {version: 1, sha256Hash}")
		}
		return nil
	}
	// Hex is hex whatever its case; the cache is keyed by lower case.
	if h, ok := ext["sha256Hash"].(string); ok {
		ext["sha256Hash"] = strings.ToLower(h)
	} else {
		return persistedInput("sha256Hash", "extensions.persistedQuery.sha256Hash must be the query's SHA-256 in hex")
	}
	err := p.apq.MutateOperationParameters(ctx, params)
	switch {
	case err == nil:
		return nil
	case err.Extensions["code"] == string(apperr.PersistedQueryNotFound):
		return err // message and code as Apollo's clients expect
	case err.Message == "unsupported APQ version":
		return persistedInput("version", "extensions.persistedQuery.version must be 1")
	case err.Message == "provided APQ hash does not match query":
		return persistedInput("sha256Hash", "hash mismatch: extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it")
	}
	return persistedInput("", "extensions.persistedQuery must be {version: 1, sha256Hash}")
}

// MutateOperationContext runs once the document has parsed and validated:
// a query sent with its hash is remembered now.
func (p *persistedQueries) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if r, ok := oc.Stats.GetExtension(pendingRegistration).(registration); ok {
		p.cache.Add(r.hash, r.query)
	}
	return nil
}

func persistedInput(field, msg string) *gqlerror.Error {
	e := gqlerror.Errorf("%s", msg)
	e.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
	if field != "" {
		e.Extensions["field"] = field
	}
	return e
}

// pendingRegistration names, in an operation's stats, the query and hash
// gqlgen's extension asked to remember.
const pendingRegistration = "clnd.persistedQueryRegistration"

type registration struct{ hash, query string }

// registrationCache is the cache gqlgen's extension sees: it reads the real
// cache, and a registration is noted on the operation rather than stored.
type registrationCache struct{ c *boundedCache[string] }

func (r registrationCache) Get(_ context.Context, hash string) (string, bool) { return r.c.Get(hash) }

func (r registrationCache) Add(ctx context.Context, hash, query string) {
	if oc := graphql.GetOperationContext(ctx); oc != nil {
		oc.Stats.SetExtension(pendingRegistration, registration{hash, query})
	}
}
