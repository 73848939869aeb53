// Package scalar marshals clnd's custom GraphQL scalars that are not Go types of their own.
package scalar

import (
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"clnd/internal/apperr"
)

// MarshalTime writes Time as RFC 3339 in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 time with an explicit offset and returns it in UTC.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, apperr.Input("", "Time must be an RFC 3339 string like 2026-10-01T00:00:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.Input("", "Time must be an RFC 3339 string like 2026-10-01T00:00:00Z")
	}
	return t.UTC(), nil
}
