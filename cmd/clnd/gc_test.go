package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCLeavesTheOperatorsChoice(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	if got := tuneGC(env(nil)); got != serveGCPercent {
		t.Fatalf("tuneGC without GOGC = %d, want %d", got, serveGCPercent)
	}
	if now := debug.SetGCPercent(100); now != serveGCPercent {
		t.Fatalf("the runtime's GC percent is %d, want %d", now, serveGCPercent)
	}
	for _, vars := range []map[string]string{{"GOGC": "50"}, {"GOGC": "off"}, {"GOMEMLIMIT": "1GiB"}} {
		if got := tuneGC(env(vars)); got != -1 {
			t.Errorf("tuneGC with %v = %d, want the runtime left alone", vars, got)
		}
		if now := debug.SetGCPercent(100); now != 100 {
			t.Errorf("with %v the GC percent became %d", vars, now)
		}
	}
}
