package checkin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// Check-ins that are refused (bad bodies, bad hostnames, an unknown
// credential) and odd ones that are fine (array syntax, 253 bytes of
// UTF-8, escaped surrogate pairs, "NULL", a BOM) all arrive within one
// batch's gathering time, on PostgreSQL with two writers: each refusal is
// answered alone, and every good check-in of the same batches is answered
// 200 and recorded exactly as sent (or trimmed), with its event.
func TestHostile5BadCheckInsDoNotFailTheirBatch(t *testing.T) {
	e := apitest.New(t, "postgres", apitest.WithoutSandbox(), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.CheckInBatch.MaxDelay = 300 * time.Millisecond }))
	r := e.Register("alice")
	credential := registerServer(t, e, r.ID)
	type send struct {
		name, ip, contentType, body string
		status                      int
		code                        string
		stored                      string // the hostname recorded, for a good one
	}
	long := strings.Repeat("é", 126) + "a" // 253 bytes
	sends := []send{
		{"array syntax", "93.184.216.81", jsonType, `{"hostname":"{\"a\\\\b\",NULL}"}`, 200, "", `{"a\\b",NULL}`},
		{"253 bytes", "93.184.216.82", formType, "hostname=" + strings.ReplaceAll(long, "é", "%C3%A9"), 200, "", long},
		{"surrogate pair", "93.184.216.83", jsonType, `{"hostname":"\ud83d\ude00.example"}`, 200, "", "😀.example"},
		{"NULL", "93.184.216.84", formType, "hostname=NULL", 200, "", "NULL"},
		{"BOM", "93.184.216.85", jsonType, `{"hostname":"\ufeffbom"}`, 200, "", "\ufeffbom"},
		{"padded", "93.184.216.86", jsonType, `{"hostname":"  padded  ","credential":null}`, 200, "", "padded"},
		{"server", "", jsonType, `{"hostname":"node\"1}","credential":"` + credential + `"}`, 200, "", `node"1}`},
		{"no license", "93.184.216.99", jsonType, `{"hostname":"nobody"}`, 200, "", ""},

		{"unknown credential", "93.184.216.81", jsonType, `{"hostname":"x","credential":"clnd_srv_forged"}`, 401, "UNAUTHENTICATED", ""},
		{"not UTF-8", "93.184.216.82", formType, "hostname=a%FF%FEb", 400, "BAD_USER_INPUT", ""},
		{"254 bytes", "93.184.216.83", jsonType, `{"hostname":"` + long + `b"}`, 400, "BAD_USER_INPUT", ""},
		{"repeated key", "93.184.216.84", jsonType, `{"hostname":"a","hostname":"b"}`, 400, "BAD_USER_INPUT", ""},
		{"escaped NUL", "93.184.216.85", jsonType, `{"hostname":"a\u0000b"}`, 400, "BAD_USER_INPUT", ""},
		{"line separator", "93.184.216.86", jsonType, `{"hostname":"a\u2028b"}`, 400, "BAD_USER_INPUT", ""},
		{"repeated form field", "93.184.216.81", formType, "hostname=a&credential=&hostname=b", 400, "BAD_USER_INPUT", ""},
		{"raw control byte", "93.184.216.82", formType, "hostname=a%1Bb", 400, "BAD_USER_INPUT", ""},
	}
	for _, s := range sends {
		if s.ip != "" && s.ip != "93.184.216.99" && s.status == 200 {
			e.AddLicense(r.Token, s.ip, "KERNELCARE", "before")
		}
	}
	sub := e.Subscribe(r.Token, `subscription { checkIns { hostname } }`, nil)

	type answer struct {
		status int
		raw    string
		code   string
	}
	answers := make([]answer, len(sends))
	var wg sync.WaitGroup
	for i, s := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/v1/checkin", bytes.NewReader([]byte(s.body)))
			req.Header.Set("Content-Type", s.contentType)
			if s.ip != "" {
				req.Header.Set("X-Forwarded-For", s.ip)
			}
			resp, err := e.Server.Client().Do(req)
			if err != nil {
				answers[i] = answer{raw: err.Error()}
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var out struct{ Errors []apitest.Error }
			_ = json.Unmarshal(raw, &out)
			a := answer{status: resp.StatusCode, raw: string(raw)}
			if len(out.Errors) > 0 {
				a.code, _ = out.Errors[0].Extensions["code"].(string)
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	events := map[string]bool{}
	for i, s := range sends {
		a := answers[i]
		if a.status != s.status || a.code != s.code {
			t.Errorf("%s: answered %d %s: %s (want %d %s)", s.name, a.status, a.code, a.raw, s.status, s.code)
		}
		if s.stored != "" {
			events[s.stored] = true
		}
	}
	got := lastCheckIns(t, e, r.Token)
	for _, s := range sends {
		if s.status != 200 || s.ip == "" || s.ip == "93.184.216.99" {
			continue
		}
		if l := got[s.ip+" KERNELCARE"]; l.LastCheckIn == nil || l.Hostname != s.stored {
			t.Errorf("%s: recorded %q at %v, want %q", s.name, l.Hostname, l.LastCheckIn, s.stored)
		}
	}
	for range len(events) {
		raw, ok := sub.Next(10 * time.Second)
		if !ok {
			t.Fatalf("events missing; still expected %v", events)
		}
		var ev struct {
			Data struct{ CheckIns struct{ Hostname string } }
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if !events[ev.Data.CheckIns.Hostname] {
			t.Fatalf("unexpected or repeated event %s", raw)
		}
		delete(events, ev.Data.CheckIns.Hostname)
	}
	if raw, ok := sub.Next(300 * time.Millisecond); ok {
		t.Fatalf("an event of a refused check-in: %s", raw)
	}
	batches, checkIns := e.Instance.CheckIns().Stats()
	t.Logf("%d check-ins written in %d batches", checkIns, batches)
}
