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
	"time"
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
		s.Config.ManualBilling = true    // the instance under test bills; the shadow only reads
		s.Config.WebhooksDisabled = true // and delivers webhooks
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
// when the answers differ. The two requests are not simultaneous: a
// scheduler may commit between them, or one instance may still remember a
// token the other has seen revoked (authentication is cached for a second).
// So a difference is asked again, of both, for a few seconds; a compiler
// defect answers differently every time, a race does not.
func (e *Env) compareWithShadow(req Request, body []byte, got *Response) {
	e.t.Helper()
	s := e.shadowFor()
	if s == nil || !readDocument(req.Query) {
		return
	}
	mainStatus, mainRaw := got.Status, got.Raw
	var diff string
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			time.Sleep(1200 * time.Millisecond)
			resp, raw := e.send(req, body)
			mainStatus, mainRaw = resp.StatusCode, raw
		}
		resp, raw := s.send(req, body)
		// Links carry the origin the request came in on: the shadow's port.
		raw = bytes.ReplaceAll(raw, []byte(s.Server.URL), []byte(e.Server.URL))
		switch {
		case resp.StatusCode != mainStatus:
			diff = fmt.Sprintf("the compiled read answered HTTP %d, gqlgen %d", mainStatus, resp.StatusCode)
		default:
			diff = SameAnswer(raw, mainRaw)
			if diff != "" {
				diff = "the compiled read differs from gqlgen's (" + diff + ")"
			}
		}
		if diff == "" {
			return
		}
		if attempt == 3 {
			e.t.Errorf("%s, four times over 4 s\nquery: %s\nvariables: %v\ncompiled: %s\ngqlgen:   %s", diff, req.Query, req.Variables, mainRaw, raw)
		}
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
