package apitest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// LeanCheckIn is an answer of the lean check-in endpoint, POST /v1/checkin.
type LeanCheckIn struct {
	Status           int
	Header           http.Header
	Raw              []byte
	At               time.Time
	Licensed         []string
	NextCheckInAfter time.Time
	Errors           []Error
}

// Code is the first error's extensions.code, "" without errors.
func (c *LeanCheckIn) Code() string {
	if len(c.Errors) == 0 {
		return ""
	}
	code, _ := c.Errors[0].Extensions["code"].(string)
	return code
}

// Field is the first error's extensions.field.
func (c *LeanCheckIn) Field() string {
	if len(c.Errors) == 0 {
		return ""
	}
	f, _ := c.Errors[0].Extensions["field"].(string)
	return f
}

// PostCheckIn sends body with the content type (none when "") to
// /v1/checkin with the given method and headers, and decodes the answer.
func (e *Env) PostCheckIn(method, contentType, body string, header map[string]string) *LeanCheckIn {
	e.t.Helper()
	req, err := http.NewRequest(method, e.Server.URL+"/v1/checkin", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := &LeanCheckIn{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("POST /v1/checkin answered %d with Content-Type %q: %s", resp.StatusCode, ct, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		e.t.Fatalf("decoding %q: %v", raw, err)
	}
	return out
}

// LeanCheckInFrom checks in through /v1/checkin with a JSON body as the host
// at ip (sent as X-Forwarded-For from loopback, a trusted proxy).
func (e *Env) LeanCheckInFrom(ip, hostname string) *LeanCheckIn {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"hostname": hostname})
	return e.PostCheckIn(http.MethodPost, "application/json", string(body), map[string]string{"X-Forwarded-For": ip})
}
