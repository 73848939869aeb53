package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"clnd/internal/apitest"
)

func lyingSource(t *testing.T, answer func(path string, n int) (int, any)) *httptest.Server {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		status, body := answer(strings.TrimPrefix(r.URL.Path, "/api/"), n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if s, ok := body.(string); ok {
			_, _ = w.Write([]byte(s))
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ok(data any) map[string]any { return map[string]any{"success": true, "data": data} }

func lic(ip string, typ int, created, id, host string) map[string]any {
	return map[string]any{"ip": ip, "type": typ, "created": created, "id": id, "hostname": host}
}

func importInto(t *testing.T, src string) (dst *apitest.Env, bobReads string, args []string) {
	t.Helper()
	url := apitest.URL(t, "sqlite")
	dst = apitest.New(t, "sqlite", apitest.WithDatabaseURL(url))
	bob := dst.Register("bob")
	bobReads = dst.APIToken(bob.Token, "READ")
	args = []string{"import", "cln", "--url", src, "--login", "alice", "--secret", "s3cret",
		"--database-url", url, "--reseller", "bob", "--sandbox"}
	return dst, bobReads, args
}

func TestHostileImportSourceFailsMidRun(t *testing.T) {
	licenses := []any{
		lic("203.0.113.1", 1, "2026-09-01T10:00+0000", "L1", ""),
		lic("203.0.113.1", 4, "2026-09-01T10:00+0000", "L1b", ""), // same family twice: skipped
		lic("203.0.113.2", 16, "2099-09-01T10:00+0000", "L2", ""), // in the future: skipped
		lic("203.0.113.4", 99, "2026-09-01T10:00+0000", "L4", ""), // unknown type: skipped
		lic("10.0.0.1", 1, "2026-09-01T10:00+0000", "L5", ""),     // private: skipped
		lic("203.0.113.6", 17, "2026-09-01T10:00+0000", "L6", ""),
	}
	var mode atomic.Value
	mode.Store("500")
	src := lyingSource(t, func(path string, n int) (int, any) {
		if path == "ipl/list.json" {
			return 200, ok(licenses)
		}
		switch mode.Load() {
		case "500":
			return 500, `<html>oops</html>`
		case "garbage":
			return 200, `{"success": true, "data": [{"server_id": `
		case "wrong shape":
			return 200, ok(map[string]any{"not": "a list"})
		}
		return 200, ok([]any{})
	})
	dst, bobReads, args := importInto(t, src.URL)
	for _, m := range []string{"500", "garbage", "wrong shape"} {
		mode.Store(m)
		if out, _, err := runCLI(t, args...); err == nil {
			t.Fatalf("%s: the import succeeded: %s", m, out)
		}
		if got := licensesOf(t, dst, bobReads); len(got) != 0 {
			t.Fatalf("%s: a failed read imported %v", m, got)
		}
	}
	mode.Store("good")
	out, _, err := runCLI(t, args...)
	if err == nil || !strings.Contains(out, "licenses: 2 new, 0 here already, 4 skipped") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, _, _ = runCLI(t, args...)
	if !strings.Contains(out, "licenses: 0 new, 2 here already, 4 skipped") {
		t.Fatalf("rerun: %s", out)
	}
	if got := licensesOf(t, dst, bobReads); len(got) != 2 {
		t.Fatalf("bob has %v", got)
	}
}
