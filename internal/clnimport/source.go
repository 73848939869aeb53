// Package clnimport brings a reseller's licenses and backups from any
// CLN-compatible reseller API (CloudLinux Network, or another clnd) into
// this clnd's database with their original dates: `clnd import cln`.
package clnimport

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"clnd/internal/clock"
)

// Source is a CLN-compatible API, read with a login and its secret.
type Source struct {
	URL, Login, Secret string
	HTTP               *http.Client

	mu   sync.Mutex
	last int64
}

// License is a license as the source lists it (ipl/list.json).
type License struct {
	IP       string
	TypeCode int
	Created  time.Time
	// SourceID is the source's own ID (clnd's "id"; the server_id its
	// backups name), empty when the source does not give one.
	SourceID string
	Hostname string
}

// Backup is a backup as the source lists it (ab/list.json).
type Backup struct {
	ServerID   string
	IP         string
	TypeCode   int // 0 when the source does not say
	SizeGB     int
	Datacenter string
	Created    time.Time
}

// token signs one request with the current second, or a second later than
// any it used: a token is good for one request (docs/cln-api.md), so two
// calls within one second must not share one.
func (s *Source) token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := clock.Wall().Unix()
	if ts <= s.last {
		ts = s.last + 1
	}
	s.last = max(s.last, ts)
	t := strconv.FormatInt(ts, 10)
	sum := sha1.Sum([]byte(s.Secret + t))
	return s.Login + "|" + t + "|" + hex.EncodeToString(sum[:])
}

// errNoSuchCall is a source that does not answer a call (ab/ on an API
// without backups).
type errNoSuchCall struct{ path string }

func (e errNoSuchCall) Error() string { return "the source does not answer " + e.path }

// replayRetries is how often a call refused for its token is signed anew,
// each time with a later second: another client of the same secret may
// have used the same second (docs/cln-api.md), and a later second's is
// free (anything within five minutes of the server's clock is accepted).
const replayRetries = 10

// call GETs /api/<path> and decodes data into out.
func (s *Source) call(ctx context.Context, path string, out any) error {
	for i := 0; ; i++ {
		err := s.callOnce(ctx, path, out)
		var refused errRefused
		if !errors.As(err, &refused) || i == replayRetries {
			return err
		}
	}
}

// errRefused is a call refused for its token (HTTP 401).
type errRefused struct{ error }

func (s *Source) callOnce(ctx context.Context, path string, out any) error {
	u := strings.TrimSuffix(s.URL, "/") + "/api/" + path + "?" + url.Values{"token": {s.token()}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	c := s.HTTP
	if c == nil {
		c = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var envelope struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		if resp.StatusCode == http.StatusNotFound {
			return errNoSuchCall{path}
		}
		return fmt.Errorf("%s: HTTP %d, not a CLN API answer", path, resp.StatusCode)
	}
	if !envelope.Success {
		if resp.StatusCode == http.StatusNotFound && !strings.HasPrefix(path, "ipl/") {
			return errNoSuchCall{path}
		}
		err := fmt.Errorf("%s: %s (HTTP %d)", path, envelope.Message, resp.StatusCode)
		if resp.StatusCode == http.StatusUnauthorized {
			return errRefused{err}
		}
		return err
	}
	if err := json.Unmarshal(envelope.Data, out); err != nil {
		return fmt.Errorf("%s: unexpected data: %w", path, err)
	}
	return nil
}

// Licenses lists the source's licenses.
func (s *Source) Licenses(ctx context.Context) ([]License, error) {
	var raw []struct {
		IP        string `json:"ip"`
		Type      int    `json:"type"`
		Created   string `json:"created"`
		CreatedAt string `json:"created_at"`
		ID        string `json:"id"`
		Hostname  string `json:"hostname"`
	}
	if err := s.call(ctx, "ipl/list.json", &raw); err != nil {
		return nil, err
	}
	out := make([]License, len(raw))
	for i, l := range raw {
		created, err := parseTime(l.CreatedAt, l.Created)
		if err != nil {
			return nil, fmt.Errorf("ipl/list.json: license %s type %d: %w", l.IP, l.Type, err)
		}
		out[i] = License{IP: l.IP, TypeCode: l.Type, Created: created, SourceID: l.ID, Hostname: l.Hostname}
	}
	return out, nil
}

// Backups lists the source's backups; none when it has no backup calls.
func (s *Source) Backups(ctx context.Context) ([]Backup, error) {
	var raw []struct {
		ServerID   json.RawMessage `json:"server_id"`
		IP         string          `json:"ip"`
		Type       int             `json:"type"`
		Size       int             `json:"size"`
		Datacenter string          `json:"datacenter"`
		Created    string          `json:"created"`
		CreatedAt  string          `json:"created_at"`
	}
	err := s.call(ctx, "ab/list.json", &raw)
	if _, none := err.(errNoSuchCall); none {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Backup, len(raw))
	for i, b := range raw {
		created, err := parseTime(b.CreatedAt, b.Created)
		if err != nil {
			return nil, fmt.Errorf("ab/list.json: backup of %s: %w", b.IP, err)
		}
		// CLN's server IDs may be numbers; clnd's are strings.
		id := strings.Trim(string(b.ServerID), `"`)
		out[i] = Backup{ServerID: id, IP: b.IP, TypeCode: b.Type, SizeGB: b.Size, Datacenter: b.Datacenter, Created: created}
	}
	return out, nil
}

// createdLayouts are the forms of "created" seen from CLN-compatible APIs.
var createdLayouts = []string{"2006-01-02T15:04-0700", "2006-01-02T15:04:05-0700", time.RFC3339, "2006-01-02 15:04:05", "2006-01-02"}

// parseTime prefers clnd's exact created_at and falls back to CLN's created.
func parseTime(exact, created string) (time.Time, error) {
	if exact != "" {
		if t, err := time.Parse(time.RFC3339Nano, exact); err == nil {
			return t.UTC(), nil
		}
	}
	for _, layout := range createdLayouts {
		if t, err := time.Parse(layout, created); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("created %q is not a date this importer knows", created)
}
