package checkin_test

import (
	"net/http"
	"testing"

	"clnd/internal/apitest"
)

// A JSON body that is not UTF-8 is refused (400 BAD_USER_INPUT), as the
// same hostname in a form is (docs/checkins.md): encoding/json would read
// each bad byte as U+FFFD and record a hostname the agent never sent. Valid
// non-ASCII hostnames, raw or escaped, go through.
func TestHostileLeanCheckInJSONNotUTF8(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		e.AddLicense(r.Token, "203.0.113.30", "KERNELCARE", "kept")
		from := map[string]string{"X-Forwarded-For": "203.0.113.30"}
		for _, body := range []string{
			"{\"hostname\":\"a\xffb\"}",
			"{\"hostname\":\"\xc3\"}",
			"{\"hostname\":\"\xed\xa0\x80\"}", // a surrogate written as UTF-8
			"{\"hostname\":\"ok\",\"credential\":\"\xfe\"}",
			"{\"host\xffname\":\"a\"}",
		} {
			got := e.PostCheckIn(http.MethodPost, jsonType, body, from)
			if got.Status != http.StatusBadRequest || got.Code() != "BAD_USER_INPUT" {
				t.Errorf("%q answered %d: %s", body, got.Status, got.Raw)
			}
		}
		if l := lastCheckIns(t, e, r.Token)["203.0.113.30 KERNELCARE"]; l.LastCheckIn != nil || l.Hostname != "kept" {
			t.Fatalf("a body that is not UTF-8 checked in: %+v", l)
		}
		for body, want := range map[string]string{
			`{"hostname":"\u00e9t\u00e9.example"}`: "été.example",
			`{"hostname":"été.example"}`:           "été.example",
		} {
			ok(t, e.PostCheckIn(http.MethodPost, jsonType, body, from))
			if h := lastCheckIns(t, e, r.Token)["203.0.113.30 KERNELCARE"].Hostname; h != want {
				t.Errorf("%s recorded hostname %q, want %q", body, h, want)
			}
		}
	})
}
