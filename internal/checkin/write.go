package checkin

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"clnd/internal/catalog"
	"clnd/internal/live"
	"clnd/internal/store"
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
// its round trips.) The same statement says whether another instance has
// subscribers (live.Presence); when none has, there is no NOTIFY. SQLite
// writes in one local transaction.
func (s *Service) write(batch []*pending) (written, error) {
	ctx := viewer.SystemContext(context.Background())
	if s.db.Postgres() {
		for attempt := 1; ; attempt++ {
			w, err := s.record(ctx, s.db.SQL, batch)
			if attempt < store.DeadlockAttempts && store.IsDeadlock(err) {
				// PostgreSQL ended the statement to break a cycle of row
				// locks with another transaction (another writer's batch
				// whose plan visits rows in another order, an operator's
				// script): it wrote nothing, and the cycle is gone once
				// the other side has the rows it waited for.
				s.log.Warn("recording check-ins: deadlock, writing the batch again", "batch", len(batch), "attempt", attempt)
				_ = store.AfterDeadlock(ctx, attempt)
				continue
			}
			return w, err
		}
	}
	tx, err := s.db.Client.Tx(ctx)
	if err != nil {
		return written{}, err
	}
	w, err := s.record(ctx, tx, batch)
	if err != nil {
		_ = tx.Rollback()
		return written{}, err
	}
	if err := tx.Commit(); err != nil {
		return written{}, err
	}
	return w, nil
}

// written are a written batch's events, and whether other instances have
// subscribers to NOTIFY them for.
type written struct {
	events []live.Event
	notify bool
}

// announceWritten sends written batches' events to every instance
// (NOTIFY, on PostgreSQL) and to this instance's subscribers, in the order
// they were written; the batches waiting when it gets to them go out
// together, in one statement. The flusher meanwhile writes on: a batch's
// check-ins are answered after one round trip, not two.
func (s *Service) announceWritten() {
	defer close(s.announced)
	for w := range s.written {
		events := w.events
		var notify []live.Event
		if w.notify {
			// No room to spare: appending to notify must not write over
			// what events appended after it (a batch not NOTIFYed).
			notify = w.events[:len(w.events):len(w.events)]
		}
	more:
		for {
			select {
			case next, ok := <-s.written:
				if !ok {
					break more
				}
				events = append(events, next.events...)
				if next.notify {
					notify = append(notify, next.events...)
				}
			default:
				break more
			}
		}
		s.announce(events, notify)
	}
}

// announce sends events to this instance's subscribers and notify (a part
// of them, or all) to the other instances (NOTIFY, on PostgreSQL).
func (s *Service) announce(events, notify []live.Event) {
	if len(notify) > 0 {
		ctx := viewer.SystemContext(context.Background())
		stmt, err := s.prepared(ctx, live.NotifyStatement)
		if err == nil {
			_, err = stmt.ExecContext(ctx, live.NotifyArgs(s.origin, notify)...)
		}
		if err != nil {
			// The check-ins are written; other instances' subscribers miss
			// these events, as they do while their LISTEN reconnects.
			s.log.Error("notifying check-ins", "events", len(notify), "err", err)
		}
	}
	s.hub.Publish(events)
}

func (s *Service) record(ctx context.Context, tx querier, batch []*pending) (written, error) {
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
	licenses, notifyLicenses, err := s.touchLicenses(ctx, tx, byIP)
	if err != nil {
		return written{}, err
	}
	servers, notifyServers, err := s.touchServers(ctx, tx, byHash)
	if err != nil {
		return written{}, err
	}
	notify := notifyLicenses || notifyServers
	// Events only for someone: a subscriber here, or on another instance.
	// (One who subscribes here from now on receives later check-ins.)
	announce := notify || s.hub.Watched()
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
			if !announce {
				continue
			}
			events = append(events, live.Event{At: p.req.At, IP: srv.ip, Hostname: p.req.Hostname, ResellerID: srv.resellerID,
				ServerID: srv.id, ServerAccountID: srv.accountID, LicenseType: catalog.CloudLinuxOS})
			continue
		}
		p.result.Licensed = []catalog.LicenseType{}
		for _, l := range licenses[p.ip] {
			p.result.Licensed = append(p.result.Licensed, l.typ)
			if !announce {
				continue
			}
			events = append(events, live.Event{At: p.req.At, IP: p.ip, Hostname: p.req.Hostname, ResellerID: l.resellerID,
				LicenseID: l.id, LicenseType: l.typ})
		}
	}
	return written{events: events, notify: notify}, nil
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
func (s *Service) touchLicenses(ctx context.Context, tx querier, byIP map[string]touch) (map[string][]touchedLicense, bool, error) {
	out := map[string][]touchedLicense{}
	// Removed licenses stay in the table for their invoices; they are
	// licensed no more and are not touched.
	notify, err := s.touchRows(ctx, tx, byIP, "ip_licenses", "ip", "text", "t.removed_at IS NULL",
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
	return out, notify, err
}

type touchedServer struct {
	id, ip, resellerID, accountID string
}

// touchServers does the same for servers, found by their credential's hash.
func (s *Service) touchServers(ctx context.Context, tx querier, byHash map[string]touch) (map[string]touchedServer, bool, error) {
	out := map[string]touchedServer{}
	notify, err := s.touchRows(ctx, tx, byHash, "servers", "credential_hash", "bytea", "",
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
	return out, notify, err
}

// touchChunk rows per statement keep SQLite's parameters far below its limit.
const touchChunk = 1000

// touchRows finds and touches the rows of the keys in one statement per
// table and scans what RETURNING lists. On PostgreSQL (touchArrays) that is
// one prepared statement over arrays, whatever the batch size, which also
// says whether another instance has subscribers (notify); on SQLite a
// VALUES list per chunk of keys.
func (s *Service) touchRows(ctx context.Context, tx querier, touches map[string]touch, table, keyColumn, keyType, alive, returning string, scan func(func(...any) error) error) (notify bool, err error) {
	if len(touches) == 0 {
		return false, nil
	}
	if alive != "" {
		alive = " AND " + alive
	}
	keys := make([]string, 0, len(touches))
	for k := range touches {
		keys = append(keys, k)
	}
	// In one order, so that two batches written at once (by this
	// instance's writers or another instance's) lock their common rows in
	// the same order and do not deadlock.
	slices.Sort(keys)
	if s.db.Postgres() {
		return s.touchArrays(ctx, touches, keys, table, keyColumn, keyType, alive, returning, scan)
	}
	for start := 0; start < len(keys); start += touchChunk {
		chunk := keys[start:min(start+touchChunk, len(keys))]
		var sb strings.Builder
		args := make([]any, 0, 3*len(chunk))
		sb.WriteString("WITH v(key, at, hostname) AS (VALUES ")
		for i, k := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			t := touches[k]
			var key any = k
			if keyType == "bytea" {
				key = []byte(k)
			}
			sb.WriteString("(?, ?, ?)")
			args = append(args, key, t.at, t.hostname)
		}
		// SQLite allows only unqualified columns of the updated table in
		// RETURNING; v has none of them.
		fmt.Fprintf(&sb, ") UPDATE %s AS t SET last_check_in = v.at, "+
			"hostname = CASE WHEN v.hostname = '' THEN t.hostname ELSE v.hostname END "+
			"FROM v WHERE t.%s = v.key%s RETURNING %s", table, keyColumn, alive, returning)
		rows, err := tx.QueryContext(ctx, sb.String(), args...)
		if err := scanAll(rows, err, table, scan); err != nil {
			return false, err
		}
	}
	return false, nil
}

// touchArrays is touchRows on PostgreSQL:
//
//	WITH async(off) AS (SELECT set_config('synchronous_commit', 'off', true)),
//	  peers(notify) AS (SELECT <another instance has subscribers>)
//	UPDATE table AS t SET last_check_in = GREATEST(t.last_check_in, v.at), hostname = ...
//	FROM unnest($1::keyType[], $2::timestamptz[], $3::text[]) AS v(key, at, hostname) CROSS JOIN async CROSS JOIN peers
//	WHERE t.keyColumn = v.key [AND alive] RETURNING ..., peers.notify
//
// A check-in older than the row's (taken earlier, written later: another
// instance's writer was held up) changes neither lastCheckIn nor the
// hostname. The text never changes with the batch, so it is prepared once (per
// connection, by database/sql) and its generic plan (index lookups, one per
// key) is reused: parsing and planning a VALUES list of a batch's size cost
// about as much as executing it. The statement is its own transaction, and
// its commit does not wait for the WAL flush: a check-in is telemetry, not
// money, and a database crash that forgets the last moments of lastCheckIn
// harms nobody.
func (s *Service) touchArrays(ctx context.Context, touches map[string]touch, keys []string, table, keyColumn, keyType, alive, returning string, scan func(func(...any) error) error) (bool, error) {
	query := fmt.Sprintf("WITH async(off) AS (SELECT set_config('synchronous_commit', 'off', true)), "+
		"peers(notify) AS (SELECT %s) "+
		"UPDATE %s AS t SET last_check_in = GREATEST(t.last_check_in, v.at), "+
		"hostname = CASE WHEN v.hostname = '' OR t.last_check_in > v.at THEN t.hostname ELSE v.hostname END "+
		"FROM unnest(CAST($1 AS %s[]), CAST($2 AS timestamptz[]), CAST($3 AS text[])) AS v(key, at, hostname) CROSS JOIN async CROSS JOIN peers "+
		"WHERE t.%s = v.key%s RETURNING t.%s, peers.notify", live.PresentElsewhere(4), table, keyType, keyColumn, alive, strings.ReplaceAll(returning, ", ", ", t."))
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return false, fmt.Errorf("recording check-ins in %s: %w", table, err)
	}
	// The arrays' text forms, written here rather than by pq.StringArray,
	// which appends them byte by byte (2% of a check-in's processor time).
	var ats, hostnames, texts []byte
	for i, k := range keys {
		t := touches[k]
		ats = appendArrayElem(ats, i, t.at.UTC().AppendFormat(nil, time.RFC3339Nano))
		hostnames = appendArrayElem(hostnames, i, []byte(t.hostname))
		if keyType != "bytea" {
			texts = appendArrayElem(texts, i, []byte(k))
		}
	}
	var keyArray any = string(append(texts, '}'))
	if keyType == "bytea" {
		hashes := make(pq.ByteaArray, len(keys))
		for i, k := range keys {
			hashes[i] = []byte(k)
		}
		keyArray = hashes
	}
	rows, err := stmt.QueryContext(ctx, keyArray, string(append(ats, '}')), string(append(hostnames, '}')), s.origin)
	var notify bool
	err = scanAll(rows, err, table, func(scanRow func(...any) error) error {
		return scan(func(dest ...any) error { return scanRow(append(dest, &notify)...) })
	})
	return notify, err
}

// appendArrayElem appends the i-th element of a PostgreSQL array literal
// ("{" before the first; the caller closes it with "}"): double-quoted, with
// backslashes and double quotes escaped.
func appendArrayElem(buf []byte, i int, elem []byte) []byte {
	if i == 0 {
		buf = append(buf, '{')
	} else {
		buf = append(buf, ',')
	}
	buf = append(buf, '"')
	for len(elem) > 0 {
		j := bytes.IndexAny(elem, `"\`)
		if j < 0 {
			buf = append(buf, elem...)
			break
		}
		buf = append(buf, elem[:j]...)
		buf = append(buf, '\\', elem[j])
		elem = elem[j+1:]
	}
	return append(buf, '"')
}

// prepared returns the statement for query, preparing it the first time.
func (s *Service) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if stmt, ok := s.stmts[query]; ok {
		return stmt, nil
	}
	stmt, err := s.db.SQL.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = stmt
	return stmt, nil
}

// scanAll scans every row of a touch statement and closes them.
func scanAll(rows *sql.Rows, err error, table string, scan func(func(...any) error) error) error {
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
	return rows.Err()
}
