package live

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestPackKeepsPayloadsUnderTheLimit(t *testing.T) {
	var events []Event
	for i := 0; i < 1000; i++ {
		events = append(events, Event{At: time.Now(), IP: fmt.Sprintf("203.0.113.%d", i%256),
			Hostname: fmt.Sprintf("host-%d.example", i), ResellerID: "rsl_01JD3QZ6W3J5P8Q3S7T0V1W2X3",
			LicenseID: "ipl_01JD3QZ6W3J5P8Q3S7T0V1W2X3", LicenseType: "CLOUDLINUX_OS"})
	}
	payloads := pack("ins_x", events)
	if len(payloads) < 2 || len(payloads) > 1000/10 {
		t.Fatalf("%d payloads for 1000 events: want several events per NOTIFY", len(payloads))
	}
	total := 0
	for _, p := range payloads {
		if len(p) >= 8000 {
			t.Fatalf("a payload of %d bytes is over PostgreSQL's limit", len(p))
		}
		var env envelope
		if err := json.Unmarshal([]byte(p), &env); err != nil || env.Origin != "ins_x" {
			t.Fatalf("payload does not decode: %v", err)
		}
		total += len(env.Events)
	}
	if total != len(events) {
		t.Fatalf("%d events packed, %d unpacked", len(events), total)
	}
}

func TestFilter(t *testing.T) {
	e := Event{ResellerID: "r1", LicenseID: "l1", IP: "203.0.113.1", LicenseType: "KERNELCARE", ServerAccountID: ""}
	for f, want := range map[Filter]bool{
		{}:                         true,
		{ResellerID: "r1"}:         true,
		{ResellerID: "r2"}:         false,
		{Type: "KERNELCARE"}:       true,
		{Type: "CLOUDLINUX_OS"}:    false,
		{IP: "203.0.113.2"}:        false,
		{LicenseID: "l1"}:          true,
		{ServerAccountID: "sac_1"}: false,
	} {
		if f.Match(&e) != want {
			t.Errorf("%+v.Match = %v", f, !want)
		}
	}
}
