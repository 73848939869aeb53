package server_test

import (
	"strings"
	"testing"

	"clnd/internal/server"
)

// TestHostileLeanHalfClosedMidBody: clients that end their side in the
// middle of a check-in's body, right after its head, or after a few bytes,
// alone or after an answered check-in, are answered as net/http answers
// them.
func TestHostileLeanHalfClosedMidBody(t *testing.T) {
	lean, plain := review7Pair(t, "sqlite", func(*server.Config) {})
	full := checkInRequest(review7Agent)
	head := full[:strings.Index(full, "\r\n\r\n")+4]
	for _, raw := range []string{
		full[:len(full)-1],        // the body's last byte missing
		head,                      // the head whole, no body
		head[:len(head)-2],        // one CRLF short of the head's end
		head[:len(head)-1],        // a CR short
		full[:3],                  // three bytes
		full[:1],                  // one byte
		full + head,               // a check-in, then a head without its body
		full + full[:len(full)-5], // a check-in, then a body cut short
		full + full[:3],           // a check-in, then three bytes
		full + full[:4],           // a check-in, then four bytes
		full + "\r\n",             // a check-in, then an empty line
		full + full + full[:len(full)-1],
	} {
		got, want := halfClosedExchange(t, lean, raw), halfClosedExchange(t, plain, raw)
		if got != want {
			t.Errorf("%q half-closed: lean connections answered %s, net/http %s", raw, got, want)
		}
	}
}
