package server_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// answerBound is what every hostile document below must be answered within.
// They take a few milliseconds (go test -v prints each); the bound is loose
// so that a loaded machine does not fail the test, and tight enough that
// the old checks (seconds to minutes) cannot pass it.
const answerBound = 500 * time.Millisecond

// maxBody is the default request body limit; documents are built up to it.
const maxBody = 1 << 20

// chain is the document: F0 spreads F1 twice, F1 spreads F2 twice,
// and so on, n fragments deep: 2^n copies of `clock { now }` once expanded.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("query{...F0}")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{ clock{now}", i)
		if i+1 < n {
			fmt.Fprintf(&b, " ...F%d ...F%d", i+1, i+1)
		}
		b.WriteString(" }")
	}
	return b.String()
}

// fan is n fragments, each spreading every later one.
func fan(n int) string {
	var b strings.Builder
	b.WriteString("query{...F0}")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{ clock{now}", i)
		for j := i + 1; j < n; j++ {
			fmt.Fprintf(&b, " ...F%d", j)
		}
		b.WriteString(" }")
	}
	return b.String()
}

// wide is an operation spreading n distinct fragments side by side.
func wide(n int) string {
	var b strings.Builder
	b.WriteString("query{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " ...F%d", i)
	}
	b.WriteString(" }")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{ c%d: clock{now} }", i, i)
	}
	return b.String()
}

// same is an operation spreading n fragments that each select the same field.
func same(n int) string {
	var b strings.Builder
	b.WriteString("query{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " ...F%d", i)
	}
	b.WriteString(" }")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{ clock{now} }", i)
	}
	return b.String()
}

// aliases is n aliased copies of a selection.
func aliases(n int, selection string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: %s", i, selection)
	}
	b.WriteString(" }")
	return b.String()
}

// largest is the largest n whose document fits the body limit.
func largest(doc func(n int) string) int {
	lo, hi := 1, 1
	for len(doc(hi)) < maxBody-100 {
		lo, hi = hi, hi*2
	}
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if len(doc(mid)) < maxBody-100 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// unknownFields is n fields the schema does not have, each answered with an
// error (and suggestions).
func unknownFields(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " ipLicense%d", i)
	}
	b.WriteString(" }")
	return b.String()
}

func unknownLongFields(n, length int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " f%d%s", i, strings.Repeat("x", length))
	}
	b.WriteString(" }")
	return b.String()
}

func repeat(n int, selection string) string { return "{" + strings.Repeat(selection+" ", n) + "}" }

// nested is a valid query n reseller → license → reseller cycles deep.
func nested(n int) string {
	return "{viewer{" + strings.Repeat("reseller{ipLicenses{edges{node{", n) + "id" + strings.Repeat("}}}}", n) + "}}"
}

// timed sends a query and times the round trip, the body encoded beforehand
// and the test's own garbage collected, so that only the server is timed.
// It logs the wall time and the CPU time of the whole test process (client
// and server), which a machine busy with other work does not inflate.
func timed(t *testing.T, e *apitest.Env, token, query string) (*apitest.Response, time.Duration) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	cpu := ownCPU()
	start := time.Now()
	r := e.PostRaw(token, body)
	took := time.Since(start)
	t.Logf("%d bytes: %s in %v (CPU %v)", len(query), r.Code(), took.Round(100*time.Microsecond), (ownCPU() - cpu).Round(100*time.Microsecond))
	return r, took
}

func ownCPU() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// Every document that would make checking or validation blow up is refused
// before it does, in milliseconds, up to the body limit.
func TestHostileDocumentsAreRefusedFast(t *testing.T) {
	e := apitest.New(t, "sqlite")
	a := e.Register("alice")
	cases := []struct {
		name, query string
		code        string
	}{
		{"the issue's chain, n=22", chain(22), "QUERY_TOO_COMPLEX"},
		{"the issue's chain, n=28", chain(28), "QUERY_TOO_COMPLEX"},
		{"chain within the fragment limit", chain(server.MaxQueryFragments), "QUERY_TOO_COMPLEX"},
		{"chain over the fragment limit", chain(1000), "QUERY_TOO_COMPLEX"},
		{"chain up to the body limit", chain(largest(chain)), "QUERY_TOO_COMPLEX"},
		{"fan-out, 100 fragments", fan(100), "QUERY_TOO_COMPLEX"},
		{"fan-out up to the body limit", fan(largest(fan)), "QUERY_TOO_COMPLEX"},
		{"200 fragments side by side", wide(server.MaxQueryFragments), "QUERY_TOO_COMPLEX"},
		{"5,000 __typename", repeat(5000, "__typename"), "QUERY_TOO_COMPLEX"},
		{"2,000 clock { now }", repeat(2000, "clock { now }"), "QUERY_TOO_COMPLEX"},
		{"__typename up to the body limit", repeat(largest(func(n int) string { return repeat(n, "__typename") }), "__typename"), "QUERY_TOO_COMPLEX"},
		{"20,000 aliases of __typename", aliases(20000, "__typename"), "QUERY_TOO_COMPLEX"},
		{"6,000 aliases of __typename", aliases(6000, "__typename"), "QUERY_TOO_COMPLEX"},
		{"150 fragments spreading the same field", same(150), "QUERY_TOO_COMPLEX"},
		{"1,000 aliased summaries", aliases(1000, "viewer { reseller { summary { totalLicenses } } }"), "QUERY_TOO_COMPLEX: the query's estimated cost"},
		{"nested 200 deep", nested(200), "QUERY_TOO_COMPLEX"},
		{"nested up to the body limit", nested(largest(nested)), "BAD_USER_INPUT"},
		{"4,000 variables", "query(" + strings.Repeat("$v: Int ", 4000) + ") { clock { now } }", "QUERY_TOO_COMPLEX"},
		{"2,000 directives on a field", "{ clock" + strings.Repeat(" @skip(if: false)", 2000) + " { now } }", "QUERY_TOO_COMPLEX"},
		{"6,000 arguments", "{ ipLicenses(" + strings.Repeat("first: 1 ", 6000) + ") { totalCount } }", "QUERY_TOO_COMPLEX"},
		{"6,000 input fields", `mutation { addIPLicense(input: {` + strings.Repeat(`ip: "x" `, 6000) + `}) { license { id } } }`, "QUERY_TOO_COMPLEX"},
		{"3,000 operations", strings.Repeat("query Q { __typename } ", 3000), "QUERY_TOO_COMPLEX"},
		{"4,000 unknown fields", unknownFields(4000), "BAD_USER_INPUT"},
		{"20 unknown fields", unknownFields(20), "BAD_USER_INPUT: Cannot query field"},
		{"an unknown field with a long name", "{ " + strings.Repeat("a", maxBody-200) + " }", "QUERY_TOO_COMPLEX"},
		{"100 unknown fields with long names", unknownLongFields(100, maxBody/100-50), "QUERY_TOO_COMPLEX"},
		{"4,000 unknown fields with names just within the length limit", unknownLongFields(4000, 120), "BAD_USER_INPUT"},
		{"an unknown argument with a long name", "{ ipLicenses(" + strings.Repeat("a", maxBody-200) + ": 1) { totalCount } }", "QUERY_TOO_COMPLEX"},
		{"an unknown enum value with a long name", "{ ipLicenses(where: {type: " + strings.Repeat("A", maxBody-200) + "}) { totalCount } }", "QUERY_TOO_COMPLEX"},
		{"an unknown type with a long name", "query($v: " + strings.Repeat("A", maxBody-200) + ") { clock { now } }", "QUERY_TOO_COMPLEX"},
		{"a fragment cycle", `query{...A} fragment A on Query{ clock{now} ...B } fragment B on Query{ ...A }`, "BAD_USER_INPUT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.query) > maxBody-100 {
				t.Fatalf("the document is %d bytes, over the body limit", len(c.query))
			}
			r, took := timed(t, e, a.Token, c.query)
			code, message, _ := strings.Cut(c.code, ": ")
			if len(r.Errors) == 0 || r.Code() != code || !strings.HasPrefix(r.Errors[0].Message, message) || len(r.Data) > 0 && string(r.Data) != "null" {
				t.Fatalf("want %s and no data, got %.300s", c.code, r.Raw)
			}
			if took > answerBound {
				t.Fatalf("answered in %v; the bound is %v", took, answerBound)
			}
		})
	}
}

// Large but honest documents within the limits still run, also quickly.
func TestLargeDocumentsWithinTheLimitsRun(t *testing.T) {
	e := apitest.New(t, "sqlite")
	a := e.Register("alice")
	cases := []struct{ name, query string }{
		{"1,000 aliases of __typename", aliases(1000, "__typename")},
		{"1,000 aliases of clock { now }", aliases(1000, "clock { now }")},
		{"the chain, n=5", chain(5)},
		{"100 × clock { now }", repeat(100, "clock { now }")},
		{"80 fragments spreading the same field", same(80)},
		{"100 fragments side by side", wide(100)},
		{"150 aliased summaries", aliases(150, "viewer { reseller { summary { totalLicenses } } }")},
		{"a page of 100 resellers with their summaries", `{ resellers(first: 100) { edges { node { login
			summary { totalLicenses unusedLicenses licenseCostPerMonth ipLicenses } } } } }`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token := a.Token
			if strings.Contains(c.query, "resellers") {
				token = e.OperatorToken
			}
			r, took := timed(t, e, token, c.query)
			if len(r.Errors) > 0 {
				t.Fatalf("refused: %.300s", r.Raw)
			}
			if took > 2*answerBound {
				t.Fatalf("answered in %v", took)
			}
		})
	}
}
