package server_test

import (
	"testing"

	"clnd/internal/apitest"
)

// A page size sent as a JSON string is refused, not counted as 0 (which let
// first: "100000" load a whole table past the page and cost limits, and
// first: "-3" answer INTERNAL).
func TestPageSizeMustBeAnInt(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		for _, n := range []any{"100000", "-3", "50", 12.5} {
			r := e.Do(apitest.Request{Token: e.OperatorToken, Query: `query($n: Int) { ipLicenses(first: $n) { totalCount } }`,
				Variables: map[string]any{"n": n}})
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("first: %#v answered %s: %s", n, r.Code(), r.Raw)
			}
		}
	})
}
