package checkin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/iplicense"
	"clnd/ent/server"
	"clnd/internal/catalog"
	"clnd/internal/live"
	"clnd/internal/viewer"
)

// touch is the newest check-in of one license or server in a batch.
type touch struct {
	at       time.Time
	hostname string
}

// write records a batch in one transaction and returns its events.
func (s *Service) write(batch []*pending) ([]live.Event, error) {
	ctx := viewer.SystemContext(context.Background())
	var ips []string
	var hashes [][]byte
	for _, p := range batch {
		if p.hash != nil {
			hashes = append(hashes, p.hash)
		} else {
			ips = append(ips, p.ip)
		}
	}
	tx, err := s.db.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	events, err := s.record(ctx, tx, batch, ips, hashes)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return events, nil
}

func (s *Service) record(ctx context.Context, tx *ent.Tx, batch []*pending, ips []string, hashes [][]byte) ([]live.Event, error) {
	byIP := map[string][]*ent.IPLicense{}
	if len(ips) > 0 {
		licenses, err := tx.IPLicense.Query().
			Where(iplicense.IPIn(dedupe(ips)...)).
			Select(iplicense.FieldID, iplicense.FieldIP, iplicense.FieldType, iplicense.FieldResellerID).
			All(ctx)
		if err != nil {
			return nil, err
		}
		for _, l := range licenses {
			byIP[l.IP] = append(byIP[l.IP], l)
		}
	}
	byHash := map[string]*ent.Server{}
	if len(hashes) > 0 {
		servers, err := tx.Server.Query().
			Where(server.CredentialHashIn(hashes...)).
			Select(server.FieldID, server.FieldIP, server.FieldResellerID, server.FieldServerAccountID, server.FieldCredentialHash).
			All(ctx)
		if err != nil {
			return nil, err
		}
		for _, srv := range servers {
			byHash[string(srv.CredentialHash)] = srv
		}
	}
	licenseTouches := map[string]touch{}
	serverTouches := map[string]touch{}
	var events []live.Event
	for _, p := range batch {
		p.result.At = p.req.At
		t := touch{at: p.req.At, hostname: p.req.Hostname}
		if p.hash != nil {
			srv := byHash[string(p.hash)]
			if srv == nil {
				p.err = ErrUnknownCredential
				continue
			}
			serverTouches[srv.ID] = newer(serverTouches[srv.ID], t)
			p.result.Licensed = []catalog.LicenseType{catalog.CloudLinuxOS}
			events = append(events, live.Event{At: t.at, IP: srv.IP, Hostname: t.hostname, ResellerID: srv.ResellerID,
				ServerID: srv.ID, ServerAccountID: srv.ServerAccountID, LicenseType: catalog.CloudLinuxOS})
			continue
		}
		p.result.Licensed = []catalog.LicenseType{}
		for _, l := range byIP[p.ip] {
			licenseTouches[l.ID] = newer(licenseTouches[l.ID], t)
			p.result.Licensed = append(p.result.Licensed, l.Type)
			events = append(events, live.Event{At: t.at, IP: l.IP, Hostname: t.hostname, ResellerID: l.ResellerID,
				LicenseID: l.ID, LicenseType: l.Type})
		}
	}
	if err := s.touch(ctx, tx, iplicense.Table, licenseTouches); err != nil {
		return nil, err
	}
	if err := s.touch(ctx, tx, server.Table, serverTouches); err != nil {
		return nil, err
	}
	if s.db.Postgres() && len(events) > 0 {
		if err := live.Notify(ctx, tx, s.origin, events); err != nil {
			return nil, err
		}
	}
	return events, nil
}

func newer(old, t touch) touch {
	if old.at.After(t.at) {
		return old
	}
	if t.hostname == "" {
		t.hostname = old.hostname
	}
	return t
}

// touchChunk rows per statement keep parameters far below both drivers' limits.
const touchChunk = 1000

// touch sets last_check_in (and hostname, when one was sent) of many rows
// with one UPDATE ... FROM (VALUES ...) statement per chunk.
func (s *Service) touch(ctx context.Context, tx *ent.Tx, table string, touches map[string]touch) error {
	ids := make([]string, 0, len(touches))
	for id := range touches {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += touchChunk {
		chunk := ids[start:min(start+touchChunk, len(ids))]
		var sb strings.Builder
		args := make([]any, 0, 3*len(chunk))
		sb.WriteString("WITH v(id, at, hostname) AS (VALUES ")
		for i, id := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			if s.db.Postgres() {
				n := len(args)
				fmt.Fprintf(&sb, "($%d, CAST($%d AS timestamptz), $%d)", n+1, n+2, n+3)
			} else {
				sb.WriteString("(?, ?, ?)")
			}
			t := touches[id]
			args = append(args, id, t.at, t.hostname)
		}
		fmt.Fprintf(&sb, ") UPDATE %s AS t SET last_check_in = v.at, "+
			"hostname = CASE WHEN v.hostname = '' THEN t.hostname ELSE v.hostname END "+
			"FROM v WHERE t.id = v.id", table)
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("recording check-ins in %s: %w", table, err)
		}
	}
	return nil
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
