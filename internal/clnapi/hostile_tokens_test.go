package clnapi_test

import (
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"clnd/internal/apitest"
)

func TestHostileTokenSpellings(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, _ := newClient(t, e, "alice")
		ts := time.Now().Unix() - 30
		sign := func(text string) string {
			sum := sha1.Sum([]byte(c.secret + text))
			return "alice|" + text + "|" + hex.EncodeToString(sum[:])
		}
		plain := strconv.FormatInt(ts, 10)
		passed := 0
		for _, text := range []string{plain, "+" + plain, "0" + plain, "00" + plain, " " + plain, plain + " "} {
			a := c.raw(http.MethodGet, "ipl/list.json", url.Values{"token": {sign(text)}})
			if a.Success {
				passed++
			}
		}
		if passed != 1 {
			t.Fatalf("one second spelled six ways passed %d times", passed)
		}
	})
}

func TestHostileParameterConflicts(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		c, r := newClient(t, e, "alice")
		q := url.Values{"token": {c.token()}, "ip": {"203.0.113.1", "203.0.113.2"}, "type": {"1", "16"}}
		if a := c.raw(http.MethodGet, "ipl/register.json", q); !a.Success {
			t.Fatalf("register with repeated parameters: %+v", a)
		}
		req, _ := http.NewRequest(http.MethodPost, c.base+"/api/ipl/register.json?ip=203.0.113.3&type=1",
			stringsReader(url.Values{"token": {c.token()}, "ip": {"203.0.113.4"}, "type": {"16"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := gqlLicenses(t, e, r.Token)
		if len(got) != 2 {
			t.Fatalf("licenses after two registers: %+v", got)
		}
		t.Logf("repeated parameters and form over query registered: %s %s, %s %s", got[0].IP, got[0].Type, got[1].IP, got[1].Type)
	})
}

func stringsReader(s string) *stringReader { return &stringReader{s: s} }

type stringReader struct {
	s string
	i int
}

func (r *stringReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}
