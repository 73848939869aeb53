package live

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"
	"time"

	"clnd/internal/licensing"
)

// hostileHostname is a hostname CleanHostname accepts, of n bytes at most,
// made of what JSON escapes most expensively (< > & become \u003c, six
// bytes each) and multi-byte runes.
func hostileHostname(r *rand.Rand, n int) string {
	pieces := []string{"<", ">", "&", `"`, `\`, "é", "水", "a", "-", "."}
	var sb strings.Builder
	for sb.Len() < n {
		p := pieces[r.Intn(len(pieces))]
		if sb.Len()+len(p) > n {
			p = "a"
		}
		sb.WriteString(p)
	}
	h, err := licensing.CleanHostname("hostname", sb.String())
	if err != nil || h != sb.String() {
		panic("not a hostname CleanHostname keeps: " + sb.String())
	}
	return h
}

// pack's payloads stay within maxPayload whatever the events' sizes, decode
// as Listen decodes them, and carry every event once, in order.
func TestHostilePackBoundaries(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	for trial := 0; trial < 600; trial++ {
		n := r.Intn(200)
		if trial%10 == 0 {
			n = r.Intn(3000)
		}
		events := make([]Event, n)
		for i := range events {
			e := Event{At: at.Add(time.Duration(i) * time.Nanosecond), IP: "2001:db8:ffff:ffff:ffff:ffff:255.255.255.255",
				Hostname: hostileHostname(r, r.Intn(licensing.MaxHostnameLength+1)), ResellerID: "rsl_01JD3QZ6W3J5P8Q3S7T0V1W2X3"}
			if r.Intn(2) == 0 {
				e.LicenseID, e.LicenseType = "ipl_01JD3QZ6W3J5P8Q3S7T0V1W2X3", "CLOUDLINUX_OS"
			} else {
				e.ServerID, e.ServerAccountID, e.LicenseType = "srv_01JD3QZ6W3J5P8Q3S7T0V1W2X3", "sac_01JD3QZ6W3J5P8Q3S7T0V1W2X3", "CLOUDLINUX_OS"
			}
			events[i] = e
		}
		payloads := pack("ins_01JD3QZ6W3J5P8Q3S7T0V1W2X3", events)
		if n == 0 && len(payloads) != 0 {
			t.Fatalf("no events packed into %d payloads", len(payloads))
		}
		var got []Event
		for _, p := range payloads {
			if len(p) > maxPayload {
				t.Fatalf("trial %d: a payload of %d bytes, over %d", trial, len(p), maxPayload)
			}
			var env envelope
			if err := json.Unmarshal([]byte(p), &env); err != nil || env.Origin != "ins_01JD3QZ6W3J5P8Q3S7T0V1W2X3" {
				t.Fatalf("trial %d: payload does not decode (%v): %.200s", trial, err, p)
			}
			if len(env.Events) == 0 {
				t.Fatalf("trial %d: an empty payload", trial)
			}
			got = append(got, env.Events...)
		}
		if len(got) != len(events) {
			t.Fatalf("trial %d: %d events packed, %d unpacked", trial, len(events), len(got))
		}
		for i := range events {
			if !got[i].At.Equal(events[i].At) || got[i].Hostname != events[i].Hostname || got[i].IP != events[i].IP ||
				got[i].LicenseID != events[i].LicenseID || got[i].ServerID != events[i].ServerID {
				t.Fatalf("trial %d: event %d is %+v, sent %+v", trial, i, got[i], events[i])
			}
		}
	}
}

// A payload is filled to the limit, byte for byte: with events of every
// size, some payload ends within the size of one event of maxPayload.
func TestHostilePackFillsPayloads(t *testing.T) {
	for size := 1; size <= licensing.MaxHostnameLength; size++ {
		events := make([]Event, 200)
		for i := range events {
			events[i] = Event{At: time.Unix(0, 0).UTC(), IP: "203.0.113.1", Hostname: strings.Repeat("<", size), ResellerID: "r"}
		}
		payloads := pack("o", events)
		one, _ := json.Marshal(events[0])
		for _, p := range payloads[:len(payloads)-1] {
			if len(p) > maxPayload || len(p) < maxPayload-len(one)-1 {
				t.Fatalf("hostname of %d bytes: a payload of %d bytes (limit %d, an event is %d)", size, len(p), maxPayload, len(one))
			}
		}
	}
}
