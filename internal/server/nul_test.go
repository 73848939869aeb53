package server

import "testing"

func TestEscapesNUL(t *testing.T) {
	for body, want := range map[string]bool{
		`{"query": "x"}`:                 false,
		`{"v": "\u0000"}`:                true,
		`{"v": "a\\u0000"}`:              false, // an escaped backslash, then text
		`{"v": "a\\\u0000"}`:             true,
		`{"v": "\\u0000 \\\\u0000"}`:     false,
		`{"v": "\\u0000 \\\\\u0000"}`:    true,
		`\u0000`:                         true,
		`{"v": "\u00001"}`:               true,
		`{"v": "\u0001 \\u0000 \u0000"}`: true,
	} {
		if got := escapesNUL([]byte(body)); got != want {
			t.Errorf("escapesNUL(%s) = %v, want %v", body, got, want)
		}
	}
}
