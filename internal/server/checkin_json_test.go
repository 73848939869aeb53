package server

import (
	"reflect"
	"testing"
)

// FuzzCheckInPlainJSON checks the lean check-in's shortcut against the
// strict decoder: wherever decodeCheckInPlain reads a body, the strict
// decoder must read it too, to the same values. (Run longer with
// go test -run '^$' -fuzz FuzzCheckInPlainJSON ./internal/server.)
func FuzzCheckInPlainJSON(f *testing.F) {
	for _, seed := range []string{
		`{"hostname":"web1.example.com"}`,
		`{"hostname":"web1.example.com","credential":"srv_abc"}`,
		` { "credential" : "c" , "hostname" : "h" } `,
		"{\"hostname\":\"h\"}\n",
		`{}`,
		`{"hostname":"h","hostname":"h"}`,
		`{"hostName":"h"}`,
		`{"hostname":"h\u0041"}`,
		`{"hostname":"h\"x"}`,
		`{"hostname":null}`,
		`{"hostname":"h",}`,
		`{"hostname":"h"} {}`,
		`{"hostname":"h"`,
		`{"hostname":"hé"}`,
		"{\"hostname\":\"h\xff\"}",
		"{\"hostname\":\"a\tb\"}",
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var plain checkInInput
		if !decodeCheckInPlain(body, &plain) {
			return
		}
		var strict checkInInput
		if err := decodeCheckInJSONStrict(body, &strict); err != nil {
			t.Fatalf("%q: the shortcut read it, the strict decoder refused it: %v", body, err)
		}
		if !reflect.DeepEqual(plain, strict) {
			t.Fatalf("%q: the shortcut read %+v, the strict decoder %+v", body, show(plain), show(strict))
		}
	})
}

// TestCheckInPlainJSONTakesWhatAgentsSend keeps the shortcut in use: the
// shapes agents send must not fall through to the strict decoder.
func TestCheckInPlainJSONTakesWhatAgentsSend(t *testing.T) {
	for _, body := range []string{
		`{"hostname":"web1.example.com"}`,
		`{"hostname": "web1.example.com", "credential": "srv_0123"}`,
		"{\n  \"hostname\": \"web1\"\n}\n",
		`{}`,
	} {
		var in checkInInput
		if !decodeCheckInPlain([]byte(body), &in) {
			t.Errorf("%s: not read by the shortcut", body)
		}
	}
	for _, body := range []string{`{"hostname":"a\"b"}`, `{"hostname":null}`, `{"hostname":"h","hostname":"h"}`, `{"x":"h"}`, `{"hostname":"h"}x`} {
		var in checkInInput
		if decodeCheckInPlain([]byte(body), &in) {
			t.Errorf("%s: read by the shortcut, which must leave it to the strict decoder", body)
		}
	}
}

func show(in checkInInput) [2]string {
	var out [2]string
	if in.Hostname != nil {
		out[0] = "hostname=" + *in.Hostname
	}
	if in.Credential != nil {
		out[1] = "credential=" + *in.Credential
	}
	return out
}
