package checkin

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"clnd/internal/catalog"
	"clnd/internal/live"
	"clnd/internal/viewer"
)

// touch is the newest check-in of one address or credential in a batch.
type touch struct {
	at       time.Time
	hostname string
}

// querier is what a batch is written through: a transaction on SQLite, the
// pool (each statement its own transaction) on PostgreSQL.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// write records a batch and returns its events, to be announced once the
// check-ins are answered. On PostgreSQL that is one round trip whatever the
// batch size: one UPDATE ... RETURNING (which both finds and touches the
// rows, and commits on its own), two when the batch has both licenses and
// servers. A check-in is answered as soon as its row is committed; the
// NOTIFY follows in its own statement (announce), so it is still never sent
// for what was not written. (BEGIN, UPDATE, NOTIFY, COMMIT in one
// transaction took four round trips, and under load a batch's latency is
// its round trips.) SQLite writes in one local transaction.
func (s *Service) write(batch []*pending) ([]live.Event, error) {
	ctx := viewer.SystemContext(context.Background())
	if s.db.Postgres() {
		return s.record(ctx, s.db.SQL, batch)
	}
	tx, err := s.db.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	events, err := s.record(ctx, tx, batch)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return events, nil
}

// announceWritten sends written batches' events to every instance
// (NOTIFY, on PostgreSQL) and to this instance's subscribers, in the order
// they were written; the batches waiting when it gets to them go out
// together, in one statement. The flusher meanwhile writes on: a batch's
// check-ins are answered after one round trip, not two.
func (s *Service) announceWritten() {
	defer close(s.announced)
	for events := range s.written {
	more:
		for {
			select {
			case next, ok := <-s.written:
				if !ok {
					break more
				}
				events = append(events, next...)
			default:
				break more
			}
		}
		s.announce(events)
	}
}

// announce sends events to every instance (NOTIFY, on PostgreSQL) and to
// this instance's subscribers.
func (s *Service) announce(events []live.Event) {
	if s.db.Postgres() {
		ctx := viewer.SystemContext(context.Background())
		if err := live.Notify(ctx, s.db.SQL, s.origin, events); err != nil {
			// The check-ins are written; other instances' subscribers miss
			// these events, as they do while their LISTEN reconnects.
			s.log.Error("notifying check-ins", "events", len(events), "err", err)
		}
	}
	s.hub.Publish(events)
}

func (s *Service) record(ctx context.Context, tx querier, batch []*pending) ([]live.Event, error) {
	byIP := map[string]touch{}
	byHash := map[string]touch{}
	for _, p := range batch {
		t := touch{at: p.req.At, hostname: p.req.Hostname}
		if p.hash != nil {
			byHash[string(p.hash)] = newer(byHash[string(p.hash)], t)
		} else {
			byIP[p.ip] = newer(byIP[p.ip], t)
		}
	}
	licenses, err := s.touchLicenses(ctx, tx, byIP)
	if err != nil {
		return nil, err
	}
	servers, err := s.touchServers(ctx, tx, byHash)
	if err != nil {
		return nil, err
	}
	var events []live.Event
	for _, p := range batch {
		p.result.At = p.req.At
		if p.hash != nil {
			srv, ok := servers[string(p.hash)]
			if !ok {
				p.err = ErrUnknownCredential
				continue
			}
			p.result.Licensed = []catalog.LicenseType{catalog.CloudLinuxOS}
			events = append(events, live.Event{At: p.req.At, IP: srv.ip, Hostname: p.req.Hostname, ResellerID: srv.resellerID,
				ServerID: srv.id, ServerAccountID: srv.accountID, LicenseType: catalog.CloudLinuxOS})
			continue
		}
		p.result.Licensed = []catalog.LicenseType{}
		for _, l := range licenses[p.ip] {
			p.result.Licensed = append(p.result.Licensed, l.typ)
			events = append(events, live.Event{At: p.req.At, IP: p.ip, Hostname: p.req.Hostname, ResellerID: l.resellerID,
				LicenseID: l.id, LicenseType: l.typ})
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

type touchedLicense struct {
	id, resellerID string
	typ            catalog.LicenseType
}

// touchLicenses sets last_check_in (and hostname, when one was sent) of every
// license on the addresses and returns them by address.
func (s *Service) touchLicenses(ctx context.Context, tx querier, byIP map[string]touch) (map[string][]touchedLicense, error) {
	out := map[string][]touchedLicense{}
	// Removed licenses stay in the table for their invoices; they are
	// licensed no more and are not touched.
	err := s.touchRows(ctx, tx, byIP, "ip_licenses", "ip", "text", "t.removed_at IS NULL",
		"id, ip, type, reseller_id",
		func(scan func(...any) error) error {
			var l touchedLicense
			var ip string
			if err := scan(&l.id, &ip, &l.typ, &l.resellerID); err != nil {
				return err
			}
			out[ip] = append(out[ip], l)
			return nil
		})
	return out, err
}

type touchedServer struct {
	id, ip, resellerID, accountID string
}

// touchServers does the same for servers, found by their credential's hash.
func (s *Service) touchServers(ctx context.Context, tx querier, byHash map[string]touch) (map[string]touchedServer, error) {
	out := map[string]touchedServer{}
	err := s.touchRows(ctx, tx, byHash, "servers", "credential_hash", "bytea", "",
		"id, ip, reseller_id, server_account_id, credential_hash",
		func(scan func(...any) error) error {
			var srv touchedServer
			var hash []byte
			if err := scan(&srv.id, &srv.ip, &srv.resellerID, &srv.accountID, &hash); err != nil {
				return err
			}
			out[string(hash)] = srv
			return nil
		})
	return out, err
}

// touchChunk rows per statement keep parameters far below both drivers' limits.
const touchChunk = 1000

// touchRows runs, per chunk of keys, one
//
//	WITH v(key, at, hostname) AS (VALUES ...)
//	UPDATE table AS t SET last_check_in = v.at, hostname = ... FROM v
//	WHERE t.keyColumn = v.key [AND live] RETURNING ...
//
// which finds and touches the rows in one statement. (SQLite allows only
// unqualified columns of the updated table in RETURNING; v has none of them.)
// On PostgreSQL the statement is its own transaction, and its commit does
// not wait for the WAL flush: a check-in is telemetry, not money, and a
// database crash that forgets the last moments of lastCheckIn harms nobody.
func (s *Service) touchRows(ctx context.Context, tx querier, touches map[string]touch, table, keyColumn, keyType, live, returning string, scan func(func(...any) error) error) error {
	if live != "" {
		live = " AND " + live
	}
	keys := make([]string, 0, len(touches))
	for k := range touches {
		keys = append(keys, k)
	}
	for start := 0; start < len(keys); start += touchChunk {
		chunk := keys[start:min(start+touchChunk, len(keys))]
		var sb strings.Builder
		args := make([]any, 0, 3*len(chunk))
		sb.WriteString("WITH ")
		if s.db.Postgres() {
			sb.WriteString("async(off) AS (SELECT set_config('synchronous_commit', 'off', true)), ")
		}
		sb.WriteString("v(key, at, hostname) AS (VALUES ")
		for i, k := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			t := touches[k]
			var key any = k
			if keyType == "bytea" {
				key = []byte(k)
			}
			if s.db.Postgres() {
				n := len(args)
				fmt.Fprintf(&sb, "(CAST($%d AS %s), CAST($%d AS timestamptz), CAST($%d AS text))", n+1, keyType, n+2, n+3)
			} else {
				sb.WriteString("(?, ?, ?)")
			}
			args = append(args, key, t.at, t.hostname)
		}
		from := "v"
		if s.db.Postgres() {
			from = "v CROSS JOIN async"
		}
		fmt.Fprintf(&sb, ") UPDATE %s AS t SET last_check_in = v.at, "+
			"hostname = CASE WHEN v.hostname = '' THEN t.hostname ELSE v.hostname END "+
			"FROM %s WHERE t.%s = v.key%s RETURNING %s", table, from, keyColumn, live, returning)
		rows, err := tx.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("recording check-ins in %s: %w", table, err)
		}
		for rows.Next() {
			if err := scan(rows.Scan); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
