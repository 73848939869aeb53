package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// (extensions.persistedQuery {version: 1, sha256Hash}), as gqlgen's
// extension.AutomaticPersistedQuery speaks it (same error message and code,
// same operation stats), with three changes:
//
//   - A document is remembered only once it has parsed and validated (its
//     registration waits in the operation context until then), so the cache
//     holds working queries, never what a client made up.
//   - Its errors carry API.md's codes: an unknown hash answers
//     PERSISTED_QUERY_NOT_FOUND with the message "PersistedQueryNotFound"
//     (what Apollo's clients match before sending the query with its hash);
//     a hash that is not the query's SHA-256, another version or a malformed
//     extension are BAD_USER_INPUT.
//   - The extension is read by hand: gqlgen decodes it with mapstructure,
//     about 28 allocations on every request, a tenth of a GraphQL
//     check-in's.
//
// It runs first among the parameter mutators: the document limits and
// gqlgen's parse (through the parsed-document cache) then see the query
// text whether it came in the request or from here. One instance serves
// every transport (POST, GET with an `extensions` parameter, websocket, SSE).
type persistedQueries struct {
	cache *boundedCache[string]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = &persistedQueries{}

func newPersistedQueries() *persistedQueries {
	return &persistedQueries{cache: newBoundedCache(persistedQueryEntries, persistedQueryBytes,
		func(hash, query string) int { return len(hash) + len(query) })}
}

func (*persistedQueries) ExtensionName() string { return "PersistedQueries" }

func (*persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

// apqStats is where gqlgen's extension records, in an operation's stats,
// the hash and whether the query came with it (extension.GetApqStats).
const apqStats = "APQ"

func (p *persistedQueries) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	raw := params.Extensions["persistedQuery"]
	if raw == nil {
		return nil
	}
	ext, ok := raw.(map[string]any)
	if !ok {
		return persistedInput("", "extensions.persistedQuery must be an object {version: 1, sha256Hash}")
	}
	if !isOne(ext["version"]) {
		return persistedInput("version", "extensions.persistedQuery.version must be 1")
	}
	hash, ok := ext["sha256Hash"].(string)
	if !ok || len(hash) != 2*sha256.Size {
		return persistedInput("sha256Hash", "extensions.persistedQuery.sha256Hash must be the query's SHA-256 in hex (64 characters)")
	}
	hash = strings.ToLower(hash) // hex is hex whatever its case; no copy when already lower
	oc := graphql.GetOperationContext(ctx)
	if params.Query == "" {
		query, ok := p.cache.Get(hash)
		if !ok {
			err := gqlerror.Errorf("PersistedQueryNotFound")
			err.Extensions = map[string]any{"code": string(apperr.PersistedQueryNotFound)}
			return err
		}
		params.Query = query
		oc.Stats.SetExtension(apqStats, &extension.ApqStats{Hash: hash})
		return nil
	}
	sum := sha256.Sum256([]byte(params.Query))
	if hex.EncodeToString(sum[:]) != hash {
		return persistedInput("sha256Hash", "hash mismatch: extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it")
	}
	oc.Stats.SetExtension(apqStats, &extension.ApqStats{Hash: hash, SentQuery: true})
	oc.Stats.SetExtension(pendingRegistration, registration{hash, params.Query})
	return nil
}

// isOne reports whether a decoded JSON value is the number 1 (the
// transports decode numbers as json.Number).
func isOne(v any) bool {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return err == nil && f == 1
	case float64:
		return n == 1
	case int:
		return n == 1
	case int64:
		return n == 1
	}
	return false
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

// pendingRegistration names, in an operation's stats, a query sent with its
// hash, to be remembered once it validates.
const pendingRegistration = "clnd.persistedQueryRegistration"

type registration struct{ hash, query string }
