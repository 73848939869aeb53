package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
)

// On PostgreSQL every read an API test sends is also answered by a shadow
// instance with the read compiler off (internal/sqlgraph), on the same
// database and the same clock, and the two answers must be the same JSON:
// every API test's query is a differential test of the compiled path too.

// WithoutShadow turns the shadow comparison off for an Env whose reads are
// not repeatable (they race concurrent writes on purpose).
func WithoutShadow() Option { return func(e *Env) { e.noShadow = true } }

// shadowFor returns the Env's shadow instance, started on first use; nil
// when there is none to compare with.
func (e *Env) shadowFor() *Env {
	if e.noShadow || e.Backend != "postgres" || e.Config.InterpretedReads || e.isShadow {
		return nil
	}
	if e.shadow == nil {
		s := &Env{t: e.t, Backend: e.Backend, DB: e.DB, Config: e.Config, OperatorToken: e.OperatorToken,
			Clock: e.Clock, isShadow: true}
		s.Config.InterpretedReads = true
		s.Config.ManualBilling = true // the instance under test bills; the shadow only reads
		log := e.log
		if log == nil {
			log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		s.start(log)
		e.shadow = s
	}
	return e.shadow
}

// readDocument reports whether a request body is a plain query (not a
// mutation or subscription), the kind both executors must answer alike.
func readDocument(query string) bool {
	q := strings.TrimSpace(query)
	for strings.HasPrefix(q, "#") {
		_, q, _ = strings.Cut(q, "\n")
		q = strings.TrimSpace(q)
	}
	return strings.HasPrefix(q, "{") || strings.HasPrefix(q, "query")
}

// compareWithShadow sends the request to the shadow too and fails the test
// when the answers differ.
func (e *Env) compareWithShadow(req Request, body []byte, got *Response) {
	e.t.Helper()
	s := e.shadowFor()
	if s == nil || !readDocument(req.Query) {
		return
	}
	resp, raw := s.send(req, body)
	// Links carry the origin the request came in on: the shadow's port.
	raw = bytes.ReplaceAll(raw, []byte(s.Server.URL), []byte(e.Server.URL))
	if resp.StatusCode != got.Status {
		e.t.Errorf("the compiled read answered HTTP %d, gqlgen %d\nquery: %s\ncompiled: %s\ngqlgen:   %s", got.Status, resp.StatusCode, req.Query, got.Raw, raw)
		return
	}
	if d := SameAnswer(raw, got.Raw); d != "" {
		e.t.Errorf("the compiled read differs from gqlgen's (%s)\nquery: %s\nvariables: %v\ncompiled: %s\ngqlgen:   %s", d, req.Query, req.Variables, got.Raw, raw)
	}
}

var requestID = regexp.MustCompile(`req_[0-9A-Z]{26}`)

// SameAnswer compares two GraphQL answers: the data token by token (the
// same keys in the same order, the same values; only insignificant
// whitespace and string escaping may differ), the errors as a set (root
// fields run concurrently, so their errors come in any order). It returns ""
// when they are the same, else what differs.
func SameAnswer(a, b []byte) string {
	// Request IDs in INTERNAL messages differ by nature.
	a, b = requestID.ReplaceAll(a, []byte("req_X")), requestID.ReplaceAll(b, []byte("req_X"))
	type answer struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	var aa, ab answer
	if err := json.Unmarshal(a, &aa); err != nil {
		return fmt.Sprintf("the first answer is not JSON: %v", err)
	}
	if err := json.Unmarshal(b, &ab); err != nil {
		return fmt.Sprintf("the second answer is not JSON: %v", err)
	}
	errs := func(list []json.RawMessage) string {
		var out []string
		for _, e := range list {
			var buf bytes.Buffer
			_ = json.Compact(&buf, e)
			out = append(out, buf.String())
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	if ea, eb := errs(aa.Errors), errs(ab.Errors); ea != eb {
		return fmt.Sprintf("errors %s vs %s", ea, eb)
	}
	if len(aa.Data) == 0 || len(ab.Data) == 0 {
		if len(aa.Data) != len(ab.Data) {
			return "data present in one answer only"
		}
		return ""
	}
	da, db := json.NewDecoder(bytes.NewReader(aa.Data)), json.NewDecoder(bytes.NewReader(ab.Data))
	da.UseNumber()
	db.UseNumber()
	for i := 0; ; i++ {
		ta, ea := da.Token()
		tb, eb := db.Token()
		if ea == io.EOF && eb == io.EOF {
			return ""
		}
		if ea != nil || eb != nil {
			return fmt.Sprintf("token %d: %v / %v", i, ea, eb)
		}
		if fmt.Sprintf("%T %v", ta, ta) != fmt.Sprintf("%T %v", tb, tb) {
			return fmt.Sprintf("token %d: %v vs %v", i, ta, tb)
		}
	}
}
