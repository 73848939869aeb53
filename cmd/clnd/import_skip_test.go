package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"clnd/internal/apitest"
)

// cannedSource answers the CLN API's calls with what answer gives for each
// path (after /api/), whatever the token.
func cannedSource(t *testing.T, answer func(path string) (int, any)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body := answer(strings.TrimPrefix(r.URL.Path, "/api/"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func cannedData(data any) map[string]any { return map[string]any{"success": true, "data": data} }

var noSuchCall = map[string]any{"success": false, "message": "no such call"}

func cannedLicense(ip string, typ int, created, id, host string) map[string]any {
	return map[string]any{"ip": ip, "type": typ, "created": created, "id": id, "hostname": host}
}

// importTarget is a fresh database of the backend with reseller bob, a
// READ token of bob's, and the import's arguments from the source.
func importTarget(t *testing.T, backend, src string) (dst *apitest.Env, bobReads string, args []string) {
	t.Helper()
	url := apitest.URL(t, backend)
	dst = apitest.New(t, backend, apitest.WithDatabaseURL(url))
	bob := dst.Register("bob")
	bobReads = dst.APIToken(bob.Token, "READ")
	args = []string{"import", "cln", "--url", src, "--login", "alice", "--secret", "s3cret",
		"--database-url", url, "--reseller", "bob", "--sandbox"}
	return dst, bobReads, args
}

// One row clnd cannot import (a host name CreateIPLicense refuses, a date
// of year 1) is skipped, said with "!" by the dry run and the import alike,
// and fails the command; the rows around it, in the same chunk, are
// imported, and a rerun converges (hostile finding 2: the bad row sank its
// whole chunk, every time).
func TestImportSkipsAnUnimportableRow(t *testing.T) {
	for _, backend := range apitest.Backends {
		for name, bad := range map[string]map[string]any{
			"hostname": cannedLicense("203.0.113.3", 1, "2026-09-01T10:00+0000", "L3", strings.Repeat("a", 300)+" !"),
			"year 1":   cannedLicense("203.0.113.3", 1, "0001-01-01", "L3", ""),
		} {
			t.Run(backend+"/"+name, func(t *testing.T) {
				src := cannedSource(t, func(path string) (int, any) {
					if path == "ipl/list.json" {
						return 200, cannedData([]any{
							cannedLicense("203.0.113.1", 1, "2026-09-01T10:00+0000", "L1", "good.example.com"),
							bad,
							cannedLicense("203.0.113.2", 16, "2026-09-01T10:00+0000", "L2", ""),
						})
					}
					return 404, noSuchCall
				})
				dst, bobReads, args := importTarget(t, backend, src.URL)
				dry, _, err := runCLI(t, append(args, "--dry-run")...)
				if err != nil || !strings.Contains(dry, "! license 203.0.113.3 type 1: ") ||
					!strings.Contains(dry, "would import into bob: licenses: 2 new, 0 here already, 1 skipped") {
					t.Fatalf("dry run: %v\n%s", err, dry)
				}
				out, _, err := runCLI(t, args...)
				if err == nil || !strings.Contains(err.Error(), "1 licenses or backups could not be imported") ||
					!strings.Contains(out, "! license 203.0.113.3 type 1: ") ||
					!strings.Contains(out, "imported into bob") || !strings.Contains(out, "licenses: 2 new, 0 here already, 1 skipped") {
					t.Fatalf("import: %v\n%s", err, out)
				}
				got := licensesOf(t, dst, bobReads)
				if len(got) != 2 || got["203.0.113.1"] == "" || got["203.0.113.2"] == "" {
					t.Fatalf("bob has %v, want the 2 good licenses", got)
				}
				out, _, err = runCLI(t, args...)
				if err == nil || !strings.Contains(out, "licenses: 0 new, 2 here already, 1 skipped") {
					t.Fatalf("rerun: %v\n%s", err, out)
				}
			})
		}
	}
}

// A source that lists one backup twice: the first is imported, the second
// skipped with "!", and a rerun finds the backup here (hostile finding 3:
// the duplicate rolled back every backup, on every run).
func TestImportSkipsADuplicatedBackup(t *testing.T) {
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			src := cannedSource(t, func(path string) (int, any) {
				switch path {
				case "ipl/list.json":
					return 200, cannedData([]any{
						cannedLicense("203.0.113.1", 1, "2026-09-01T10:00+0000", "L1", ""),
						cannedLicense("203.0.113.2", 1, "2026-09-01T10:00+0000", "L2", ""),
					})
				case "ab/list.json":
					b := map[string]any{"server_id": "L1", "ip": "203.0.113.1", "type": 1, "size": 10, "datacenter": "us-east", "created": "2026-09-02T10:00+0000"}
					return 200, cannedData([]any{b, b})
				}
				return 404, noSuchCall
			})
			dst, bobReads, args := importTarget(t, backend, src.URL)
			dry, _, err := runCLI(t, append(args, "--dry-run")...)
			if err != nil || !strings.Contains(dry, "! backup of 203.0.113.1 (L1): the source lists a second backup for 203.0.113.1") ||
				!strings.Contains(dry, "backups: 1 new, 0 here already, 1 skipped") {
				t.Fatalf("dry run: %v\n%s", err, dry)
			}
			out, _, err := runCLI(t, args...)
			if err == nil || !strings.Contains(out, "licenses: 2 new, 0 here already, 0 skipped; backups: 1 new, 0 here already, 1 skipped") {
				t.Fatalf("import: %v\n%s", err, out)
			}
			got := licensesOf(t, dst, bobReads)
			if len(got) != 2 || !strings.Contains(got["203.0.113.1"], "backup us-east") {
				t.Fatalf("bob has %v, want both licenses and the backup of 203.0.113.1", got)
			}
			out, _, err = runCLI(t, args...)
			if !strings.Contains(out, "backups: 0 new, 1 here already, 1 skipped") {
				t.Fatalf("rerun: %v\n%s", err, out)
			}
		})
	}
}
