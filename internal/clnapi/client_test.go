package clnapi_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// client speaks the CLN reseller API as docs/cln-api.md describes it and
// nothing more: it knows the base URL, a login and a secret, signs each
// request with token=<login>|<ts>|sha1hex(secret+ts), never reuses a
// timestamp (so that no call is ever the replay of another: the API
// refuses the same request with the same timestamp), and reads success, data and
// message.
type client struct {
	t             *testing.T
	base          string
	login, secret string

	mu   sync.Mutex
	last int64
}

// answer is one response.
type answer struct {
	Status  int
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Code    string          `json:"code"`
}

// token signs for now, or for the second after the last one used.
func (c *client) token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := time.Now().Unix()
	if ts <= c.last {
		ts = c.last + 1
	}
	c.last = ts
	return tokenAt(c.login, c.secret, ts)
}

func tokenAt(login, secret string, ts int64) string {
	s := strconv.FormatInt(ts, 10)
	sum := sha1.Sum([]byte(secret + s))
	return login + "|" + s + "|" + hex.EncodeToString(sum[:])
}

// get calls GET /api/<path> with the parameters (name, value pairs).
func (c *client) get(path string, kv ...string) answer {
	c.t.Helper()
	q := url.Values{"token": {c.token()}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return c.raw(http.MethodGet, path, q)
}

// raw sends the parameters as given (token included), GET in the query
// string or POST as a form.
func (c *client) raw(method, path string, q url.Values) answer {
	c.t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, c.base+"/api/"+path, strings.NewReader(q.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, c.base+"/api/"+path+"?"+q.Encode(), nil)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode}
	if err := json.Unmarshal(body, &a); err != nil {
		c.t.Fatalf("%s %s: HTTP %d, not JSON: %q", method, path, resp.StatusCode, body)
	}
	return a
}

// ok calls and fails the test unless the call succeeds; it decodes data into out.
func (c *client) ok(out any, path string, kv ...string) {
	c.t.Helper()
	a := c.get(path, kv...)
	if !a.Success || a.Status != http.StatusOK {
		c.t.Fatalf("%s %v: HTTP %d %s", path, kv, a.Status, a.Message)
	}
	if out != nil {
		if err := json.Unmarshal(a.Data, out); err != nil {
			c.t.Fatalf("%s: decoding %s: %v", path, a.Data, err)
		}
	}
}

// fails calls and fails the test unless the call fails with the status.
func (c *client) fails(status int, path string, kv ...string) answer {
	c.t.Helper()
	a := c.get(path, kv...)
	if a.Success || a.Status != status || a.Message == "" {
		c.t.Fatalf("%s %v: want a failure with HTTP %d, got HTTP %d success=%v %q", path, kv, status, a.Status, a.Success, a.Message)
	}
	return a
}

// License and Backup are the documented shapes.
type License struct {
	IP         string `json:"ip"`
	Type       int    `json:"type"`
	Registered bool   `json:"registered"`
	Created    string `json:"created"`
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
}

type Backup struct {
	ID         string `json:"id"`
	ServerID   string `json:"server_id"`
	IP         string `json:"ip"`
	Size       int    `json:"size"`
	Datacenter string `json:"datacenter"`
	Created    string `json:"created"`
}
