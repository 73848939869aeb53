package live

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Channel is the PostgreSQL notification channel of check-in events.
const Channel = "clnd_checkins"

// RevocationChannel is the PostgreSQL notification channel of revoked
// credentials (logout, revokeAPIToken): every instance's open subscriptions
// recheck theirs when a notification arrives.
const RevocationChannel = "clnd_revocations"

// maxPayload keeps NOTIFY payloads under PostgreSQL's 8000-byte limit.
const maxPayload = 7800

// envelope is one NOTIFY payload: a batch of events from one instance.
type envelope struct {
	Origin string  `json:"o"`
	Events []Event `json:"e"`
}

// Notify queues the events for every instance inside tx: PostgreSQL
// delivers a notification only when its transaction commits, so a rolled-back
// check-in is never announced. Events are packed many to a payload, never
// one NOTIFY per check-in.
func Notify(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, origin string, events []Event) error {
	payloads := pack(origin, events)
	// One statement for all of them. It also turns off waiting for the WAL
	// flush at commit: a check-in is telemetry, not money, and a crash that
	// forgets the last moments of lastCheckIn harms nobody.
	var sb strings.Builder
	sb.WriteString("SELECT set_config('synchronous_commit', 'off', true)")
	args := []any{Channel}
	for _, p := range payloads {
		args = append(args, p)
		fmt.Fprintf(&sb, ", pg_notify($1, $%d)", len(args))
	}
	if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("notifying check-ins: %w", err)
	}
	return nil
}

// NotifyRevoked tells every instance, once tx commits, that a credential was
// revoked in it. The payload is the origin, so the revoking instance (which
// has told its own subscribers already) can skip it.
func NotifyRevoked(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, origin string) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", RevocationChannel, origin); err != nil {
		return fmt.Errorf("notifying a revocation: %w", err)
	}
	return nil
}

func pack(origin string, events []Event) []string {
	var payloads []string
	batch := envelope{Origin: origin}
	size := 0
	flush := func() {
		if len(batch.Events) == 0 {
			return
		}
		b, _ := json.Marshal(batch)
		payloads = append(payloads, string(b))
		batch.Events, size = nil, 0
	}
	for _, e := range events {
		b, _ := json.Marshal(e)
		if size+len(b)+64 > maxPayload {
			flush()
		}
		batch.Events = append(batch.Events, e)
		size += len(b) + 1
	}
	flush()
	return payloads
}

// Listen delivers other instances' notified events and revocations to the
// hub until ctx ends. lib/pq's listener reconnects by itself with back-off (min..max); a
// reconnect is logged, and events notified while it was down are lost for
// this instance's subscribers (they are in the database all the same).
func Listen(ctx context.Context, dsn, origin string, hub *Hub, log *slog.Logger, ready func()) error {
	events := func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			log.Warn("check-in listener lost PostgreSQL; reconnecting", "err", err)
		case pq.ListenerEventReconnected:
			log.Info("check-in listener reconnected")
		}
	}
	// Every payload of this instance starts so (pack marshals the origin
	// first; IDs need no escaping). Decoding its own echo only to drop it
	// was 4% of the processor time under a check-in load.
	own := `{"o":"` + origin + `"`
	l := pq.NewListener(dsn+listenerAppName(dsn), 100*time.Millisecond, 5*time.Second, events)
	defer l.Close()
	if err := l.Listen(Channel); err != nil {
		return fmt.Errorf("LISTEN %s: %w", Channel, err)
	}
	if err := l.Listen(RevocationChannel); err != nil {
		return fmt.Errorf("LISTEN %s: %w", RevocationChannel, err)
	}
	if ready != nil {
		ready()
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			if n == nil {
				// Reconnected: a revocation notified while the connection
				// was down is lost, so every subscriber rechecks now.
				hub.Revoke()
				continue
			}
			if n.Channel == RevocationChannel {
				if n.Extra != origin {
					hub.Revoke()
				}
				continue
			}
			if strings.HasPrefix(n.Extra, own) {
				continue // this instance's own events, delivered already: not even decoded
			}
			var env envelope
			if err := json.Unmarshal([]byte(n.Extra), &env); err != nil {
				log.Warn("undecodable check-in notification", "err", err)
				continue
			}
			if env.Origin == origin {
				continue // this instance delivered its own events already
			}
			hub.Publish(env.Events)
		case <-ping.C:
			// Notices a dead connection that no notification has revealed.
			go func() { _ = l.Ping() }()
		}
	}
}

// listenerAppName tags the LISTEN connection so operators (and tests) can
// find it in pg_stat_activity.
func listenerAppName(dsn string) string {
	sep := "?"
	for _, c := range dsn {
		if c == '?' {
			sep = "&"
			break
		}
	}
	return sep + "application_name=clnd-listener"
}
