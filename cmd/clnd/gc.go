package main

import "runtime/debug"

// serveGCPercent is the garbage collector's target for a serving clnd
// (GOGC=400): its live heap is small (tens of megabytes) and a request
// allocates a few kilobytes, so the default target (100) has the collector
// run often for little. At 400 a check-in cost about 5% less processor time
// (docs/performance.md) for a heap up to five times its live size.
const serveGCPercent = 400

// tuneGC sets serveGCPercent unless the operator chose a target (GOGC) or
// a memory limit (GOMEMLIMIT), which the runtime then follows as given.
// It returns the target it set, or -1 when it left the runtime alone.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return -1
	}
	debug.SetGCPercent(serveGCPercent)
	return serveGCPercent
}
