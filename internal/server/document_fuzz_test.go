package server

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"clnd/graph/generated"
)

// FuzzQueryChecks runs what happens to a query before execution (the
// document bounds, parsing and validation, the depth and cost estimate) on
// arbitrary text: nothing may panic or take over 100 ms of CPU. `go test`
// runs the seeds; `go test -fuzz FuzzQueryChecks ./internal/server/` explores.
func FuzzQueryChecks(f *testing.F) {
	for _, seed := range []string{
		`{ viewer { role reseller { login balance status autopayment { mode minimumCharge }
			summary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } } } }`,
		`query($after: Cursor) { ipLicenses(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor }
			edges { cursor node { id ip type hostname status createdAt product { name monthlyPrice } reseller { login } } } } }`,
		`mutation($ip: String!) { addIPLicense(input: {ip: $ip, type: KERNELCARE}) { license { id } } }`,
		`query { __schema { types { ...T } } } fragment T on __Type { kind name ofType { kind name ofType { kind name } } }`,
		`query{...F0} fragment F0 on Query{ clock{now} ...F1 ...F1 } fragment F1 on Query{ clock{now} ...F2 ...F2 } fragment F2 on Query{ clock{now} }`,
		`{ a: viewer { reseller { summary { totalLicenses } } } b: viewer { reseller { summary { totalLicenses } } } }`,
		`query{...A} fragment A on Query{ ...B } fragment B on Query{ ...A }`,
		`{ ipLicenses(first: 100) { edges { node { reseller { ipLicenses(first: 100) { edges { node { id } } } } } } } }`,
		"{" + strings.Repeat("__typename ", 300) + "}",
		"{ nodes(ids: [\"rsl_1\", \"ipl_2\"]) { id ... on Reseller { login } } }",
		`subscription { checkIns(where: {ip: "203.0.113.1"}) { at ip license { id } } }`,
	} {
		f.Add(seed)
	}
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	limits := &documentLimits{schemaNames: schemaNames(schema)}
	f.Fuzz(func(t *testing.T, query string) {
		start := cpuTime()
		if err := limits.MutateOperationParameters(t.Context(), &graphql.RawParams{Query: query}); err == nil {
			if doc, errs := gqlparser.LoadQuery(schema, query); errs == nil {
				for _, op := range doc.Operations {
					oc := &graphql.OperationContext{Doc: doc, Operation: op, Variables: map[string]any{}}
					_ = queryLimits{maxDepth: 12, maxComplexity: 50_000}.MutateOperationContext(t.Context(), oc)
				}
			}
		}
		if took := cpuTime() - start; took > 100*time.Millisecond {
			t.Fatalf("%v of CPU for a %d-byte query", took, len(query))
		}
	})
}

func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
