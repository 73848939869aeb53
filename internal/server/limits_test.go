package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"clnd/graph/generated"
)

// The cost measure looks at each fragment once: a chain of fragments that
// each spread the next twice (2^60 copies of a field once expanded) is
// measured at once, even with no limit to stop at.
func TestCostOfFragmentChainsIsMeasuredOnce(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	var b strings.Builder
	b.WriteString("query{...F0}")
	const n = 60
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{ clock{now}", i)
		if i+1 < n {
			fmt.Fprintf(&b, " ...F%d ...F%d", i+1, i+1)
		}
		b.WriteString(" }")
	}
	doc, errs := gqlparser.LoadQuery(schema, b.String())
	if errs != nil {
		t.Fatal(errs)
	}
	for _, limit := range []int{50_000, 1 << 40} {
		start := time.Now()
		err := queryLimits{maxDepth: 12, maxComplexity: limit}.MutateOperationContext(t.Context(),
			&graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]})
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("limit %d: measured in %v", limit, took)
		}
		if err == nil || err.Extensions["code"] != "QUERY_TOO_COMPLEX" {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
}
