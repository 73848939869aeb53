package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"clnd/internal/apitest"
)

// A hash registered by one caller runs, for every other caller, as that
// caller: another reseller's READ token cannot run a registered mutation by
// its hash, an anonymous caller cannot read, and nobody sees the first
// caller's rows; the query text is never echoed back.
func TestHostilePersistedQueryAcrossTenants(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		owner := e.Register("apq-owner")
		e.AddLicense(owner.Token, "8.8.4.4", "CLOUDLINUX_OS", "secret-host.example")
		const read = `query Mine { ipLicenses { edges { node { ip hostname } } } }`
		const write = `mutation Add($ip: String!) { addIPLicense(input: {ip: $ip, type: KERNELCARE}) { license { ip } } }`
		if r := e.PostRaw(owner.Token, persisted(read, sha256Hex(read), nil)); len(r.Errors) > 0 || !strings.Contains(string(r.Data), "secret-host") {
			t.Fatalf("registering the read: %s", r.Raw)
		}
		if r := e.PostRaw(owner.Token, persisted(write, sha256Hex(write), map[string]any{"ip": "8.8.8.8"})); len(r.Errors) > 0 {
			t.Fatalf("registering the write: %s", r.Raw)
		}

		other := e.Register("apq-intruder")
		readOnly := e.APIToken(other.Token, "READ")
		if r := e.PostRaw(readOnly, persisted("", sha256Hex(write), map[string]any{"ip": "1.1.1.1"})); r.Code() != "FORBIDDEN" {
			t.Errorf("a READ token ran a registered mutation by hash: %s", r.Raw)
		}
		if r := e.PostRaw("", persisted("", sha256Hex(write), map[string]any{"ip": "1.0.0.1"})); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("an anonymous caller ran a registered mutation by hash: %s", r.Raw)
		}
		for name, token := range map[string]string{"another reseller": other.Token, "its READ token": readOnly} {
			r := e.PostRaw(token, persisted("", sha256Hex(read), nil))
			if len(r.Errors) > 0 || strings.Contains(string(r.Raw), "secret-host") || strings.Contains(string(r.Raw), "8.8.") {
				t.Errorf("%s by hash answered %s", name, r.Raw)
			}
		}
		if r := e.PostRaw("", persisted("", sha256Hex(read), nil)); r.Code() != "UNAUTHENTICATED" || strings.Contains(string(r.Raw), "secret-host") {
			t.Errorf("an anonymous read by hash answered %s", r.Raw)
		}
		// Nothing of the refused mutations was written.
		var out struct{ IPLicenses struct{ TotalCount int } }
		e.Query(e.OperatorToken, `{ ipLicenses { totalCount } }`, nil, &out)
		if out.IPLicenses.TotalCount != 2 {
			t.Errorf("%d licenses after the refused mutations, want 2", out.IPLicenses.TotalCount)
		}
	})
}

// A mutation's hash sent with GET is refused (405) and does nothing, even
// once registered: a link or an <img> cannot check a server in or add a
// license.
func TestHostilePersistedMutationOverGET(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("apq-get")
		const write = `mutation Add($ip: String!) { addIPLicense(input: {ip: $ip, type: KERNELCARE}) { license { ip } } }`
		hash := sha256Hex(write)
		if r := e.PostRaw(seller.Token, persisted(write, hash, map[string]any{"ip": "8.8.8.8"})); len(r.Errors) > 0 {
			t.Fatalf("registering: %s", r.Raw)
		}
		r := persistedGET(t, e, seller.Token, hash, map[string]any{"ip": "9.9.9.9"})
		if r.Status != http.StatusMethodNotAllowed || r.Code() != "BAD_USER_INPUT" || r.Header.Get("Allow") != http.MethodPost {
			t.Errorf("a registered mutation by hash over GET answered HTTP %d %s", r.Status, r.Raw)
		}
		var out struct {
			IPLicenses struct {
				Edges []struct{ Node struct{ IP string } }
			}
		}
		e.Query(seller.Token, `{ ipLicenses { edges { node { ip } } } }`, nil, &out)
		if len(out.IPLicenses.Edges) != 1 || out.IPLicenses.Edges[0].Node.IP != "8.8.8.8" {
			t.Errorf("licenses after a mutation by hash over GET: %+v", out)
		}
	})
}

// Malformed persisted-query extensions are each refused with
// BAD_USER_INPUT (naming the field) or PERSISTED_QUERY_NOT_FOUND, never
// INTERNAL, and none registers anything.
func TestHostilePersistedQueryMalformedHashes(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("apq-malformed")
	const query = `{ viewer { role } }`
	hash := sha256Hex(query)
	nonHex := strings.Repeat("zz", 32)
	ext := func(pq any, withQuery bool) []byte {
		body := map[string]any{"extensions": map[string]any{"persistedQuery": pq}}
		if withQuery {
			body["query"] = query
		}
		b, _ := json.Marshal(body)
		return b
	}
	cases := []struct {
		name      string
		body      []byte
		code      string
		field     string
		registers bool
	}{
		{"short hash", ext(map[string]any{"version": 1, "sha256Hash": hash[:63]}, true), "BAD_USER_INPUT", "sha256Hash", false},
		{"long hash", ext(map[string]any{"version": 1, "sha256Hash": hash + "0"}, true), "BAD_USER_INPUT", "sha256Hash", false},
		{"non-hex hash with the query", ext(map[string]any{"version": 1, "sha256Hash": nonHex}, true), "BAD_USER_INPUT", "sha256Hash", false},
		{"non-hex hash alone", ext(map[string]any{"version": 1, "sha256Hash": nonHex}, false), "PERSISTED_QUERY_NOT_FOUND", "", false},
		{"hash as a number", ext(map[string]any{"version": 1, "sha256Hash": 12345}, true), "BAD_USER_INPUT", "sha256Hash", false},
		{"hash null", ext(map[string]any{"version": 1, "sha256Hash": nil}, true), "BAD_USER_INPUT", "sha256Hash", false},
		{"hash missing", ext(map[string]any{"version": 1}, true), "BAD_USER_INPUT", "sha256Hash", false},
		{"version as a string", ext(map[string]any{"version": "1", "sha256Hash": hash}, true), "BAD_USER_INPUT", "version", false},
		{"version 0", ext(map[string]any{"version": 0, "sha256Hash": hash}, true), "BAD_USER_INPUT", "version", false},
		{"version missing", ext(map[string]any{"sha256Hash": hash}, true), "BAD_USER_INPUT", "version", false},
		{"extension an array", ext([]any{1, hash}, true), "BAD_USER_INPUT", "", false},
		{"multi-byte hash", ext(map[string]any{"version": 1, "sha256Hash": strings.Repeat("\u212a", 21) + "k"}, false), "PERSISTED_QUERY_NOT_FOUND", "", false},
		{"upper-case hash with the query", ext(map[string]any{"version": 1, "sha256Hash": strings.ToUpper(hash)}, true), "", "", true},
	}
	for _, c := range cases {
		r := e.PostRaw(seller.Token, c.body)
		if r.Code() != c.code || r.Field() != c.field || r.Status == http.StatusInternalServerError {
			t.Errorf("%s: HTTP %d %s, want %q field %q", c.name, r.Status, r.Raw, c.code, c.field)
		}
		registered := e.PostRaw(seller.Token, persisted("", hash, nil)).Code() == ""
		if registered != c.registers {
			t.Fatalf("%s: registered %v, want %v", c.name, registered, c.registers)
		}
	}
}

// Many clients registering the same document at once (a fleet of agents
// restarted together) all get their answer, and the hash then works alone.
func TestHostilePersistedQueryConcurrentRegistration(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		seller := e.Register("apq-fleet")
		const n = 32
		for i := 0; i < n; i++ {
			e.AddLicense(seller.Token, fmt.Sprintf("203.0.113.%d", 100+i), "KERNELCARE", "")
		}
		hash := sha256Hex(apitest.CheckInMutation)
		var wg sync.WaitGroup
		errs := make(chan string, 2*n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ip := fmt.Sprintf("203.0.113.%d", 100+i)
				vars := map[string]any{"host": fmt.Sprintf("agent%d.example", i)}
				r := postFrom(t, e, ip, persisted("", hash, vars))
				if r.Code() == "PERSISTED_QUERY_NOT_FOUND" {
					r = postFrom(t, e, ip, persisted(apitest.CheckInMutation, hash, vars))
				}
				if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "KERNELCARE") {
					errs <- fmt.Sprintf("%s: %s", ip, r.Raw)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if r := postFrom(t, e, "203.0.113.100", persisted("", hash, map[string]any{"host": "again"})); len(r.Errors) > 0 {
			t.Fatalf("by hash after the fleet registered: %s", r.Raw)
		}
	})
}

// The cache of registered documents is bounded: registering thousands of
// distinct documents (a client inventing them) evicts the least recently
// used, while a document in use stays; nothing fails.
func TestHostilePersistedQueryCacheIsBounded(t *testing.T) {
	e := apitest.New(t, "sqlite")
	seller := e.Register("apq-flood")
	const kept = `query Kept { viewer { role } }`
	first := `query Flood0 { viewer { role } }`
	for _, q := range []string{first, kept} {
		if r := e.PostRaw(seller.Token, persisted(q, sha256Hex(q), nil)); len(r.Errors) > 0 {
			t.Fatalf("registering %s: %s", q, r.Raw)
		}
	}
	const flood = 4200 // more than the cache's 4096 entries
	for i := 1; i <= flood; i++ {
		q := fmt.Sprintf(`query Flood%d { viewer { role } }`, i)
		if r := e.PostRaw(seller.Token, persisted(q, sha256Hex(q), nil)); len(r.Errors) > 0 {
			t.Fatalf("registering document %d: %s", i, r.Raw)
		}
		if i%1000 == 0 { // in use: stays
			if r := e.PostRaw(seller.Token, persisted("", sha256Hex(kept), nil)); len(r.Errors) > 0 {
				t.Fatalf("the document in use after %d others: %s", i, r.Raw)
			}
		}
	}
	if r := e.PostRaw(seller.Token, persisted("", sha256Hex(first), nil)); r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("the oldest of %d documents is still registered: %s", flood+1, r.Raw)
	}
	last := fmt.Sprintf(`query Flood%d { viewer { role } }`, flood)
	if r := e.PostRaw(seller.Token, persisted("", sha256Hex(last), nil)); len(r.Errors) > 0 {
		t.Errorf("the newest document is gone: %s", r.Raw)
	}
}
