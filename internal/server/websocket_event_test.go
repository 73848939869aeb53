package server_test

import (
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// gqlgen's own graphql-transport-ws event messages are the ones
// written without a second JSON encoding (websocket_conn.go): were gqlgen
// to change their shape, the fast path would be silently skipped.
func TestEventMessagesSkipTheSecondEncoding(t *testing.T) {
	e := apitest.New(t, "sqlite", apitest.WithoutShadow())
	a := e.Register("alice")
	e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")
	s := e.Subscribe(a.Token, `subscription { checkIns { hostname } }`, nil)
	if r := e.CheckInFrom("203.0.113.10", "web1"); r.Code() != "" {
		t.Fatalf("check-in: %s", r.Raw)
	}
	if ev := nextEvent(t, s, "subscriber"); string(ev["hostname"]) != `"web1"` {
		t.Fatalf("received %v", ev)
	}
	if n := server.EventMessageTypes(); n < 1 {
		t.Fatalf("gqlgen's graphql-transport-ws message was written with json.Marshal")
	}
}
