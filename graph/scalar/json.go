package scalar

import (
	"encoding/json"
	"io"

	"github.com/99designs/gqlgen/graphql"

	"clnd/internal/apperr"
)

// MarshalJSON writes a JSON value as it is stored (an event's object).
func MarshalJSON(v json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(v) == 0 {
			_, _ = io.WriteString(w, "null")
			return
		}
		_, _ = w.Write(v)
	})
}

// UnmarshalJSON refuses input: JSON values are only ever output.
func UnmarshalJSON(any) (json.RawMessage, error) {
	return nil, apperr.Input("", "JSON values are output only")
}
