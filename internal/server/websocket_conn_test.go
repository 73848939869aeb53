package server

import (
	"encoding/json"
	"testing"
)

// The shapes of gqlgen's two websocket message types (graphql-transport-ws
// and graphql-ws), whose types are not exported.
type (
	transportWSType    string
	transportWSMessage struct {
		Payload json.RawMessage `json:"payload,omitempty"`
		ID      string          `json:"id,omitempty"`
		Type    transportWSType `json:"type"`
		noOp    bool
	}
	legacyWSMessage struct {
		Payload json.RawMessage `json:"payload,omitempty"`
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
	}
	// A message with a field json.Marshal would write and the fast path
	// does not know.
	extendedMessage struct {
		Payload json.RawMessage `json:"payload,omitempty"`
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
		Extra   string          `json:"extra"`
	}
)

func (t transportWSType) MarshalText() ([]byte, error) { return []byte(string(t)), nil }

// An event message is written byte for byte as json.Marshal writes it, and
// everything the fast path cannot write exactly is left to json.Marshal.
func TestAppendEventMessage(t *testing.T) {
	payload := json.RawMessage(`{"data":{"checkIns":{"hostname":"web1","license":null}}}`)
	for _, tc := range []struct {
		name string
		msg  any
		fast bool
	}{
		{"next", &transportWSMessage{Payload: payload, ID: "1", Type: "next"}, true},
		{"legacy data", &legacyWSMessage{Payload: payload, ID: "sub-7", Type: "data"}, true},
		{"no id", &transportWSMessage{Payload: payload, Type: "next"}, true},
		{"complete", &transportWSMessage{ID: "1", Type: "complete"}, false},
		{"error", &transportWSMessage{Payload: json.RawMessage(`[{"message":"x"}]`), ID: "1", Type: "error"}, false},
		{"quoted id", &transportWSMessage{Payload: payload, ID: `a"b`, Type: "next"}, false},
		{"html id", &transportWSMessage{Payload: payload, ID: "<1>", Type: "next"}, false},
		{"unicode id", &transportWSMessage{Payload: payload, ID: "é", Type: "next"}, false},
		{"control id", &transportWSMessage{Payload: payload, ID: "\n", Type: "next"}, false},
		{"unknown field", &extendedMessage{Payload: payload, ID: "1", Type: "next", Extra: "x"}, false},
		{"not a pointer", transportWSMessage{Payload: payload, ID: "1", Type: "next"}, false},
		{"nil", (*transportWSMessage)(nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, fast := appendEventMessage(nil, tc.msg)
			if fast != tc.fast {
				t.Fatalf("fast path %v, want %v", fast, tc.fast)
			}
			if !fast {
				return
			}
			want, err := json.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("wrote %s\njson.Marshal writes %s", got, want)
			}
		})
	}
}
