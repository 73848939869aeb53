package sqlgraph

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"clnd/ent"
	"clnd/internal/money"
)

func cursorText(c ent.Cursor) string {
	var b bytes.Buffer
	c.MarshalGQL(&b)
	return b.String()
}

// TestFinishFillsPlaceholders checks the placeholder scanner against entgql's
// own encoder, with the whitespace PostgreSQL writes and escaped values.
func TestFinishFillsPlaceholders(t *testing.T) {
	in := `{"a" : ["\u0001s", "ipl_1", "quo\"te \u00e9 ]"], "b" : ["\u0001i", "ipl_2"],` +
		"\n" + ` "c":["\u0001t","ipl_3",1790000000123456], "d" : ["\u0001n", "sac_1", 42], "e" : ["\u0001m", "rsl_1", -1999], "f" : "[\"\u0001s\" stays"}`
	want := `{"a" : ` + cursorText(ent.Cursor{ID: "ipl_1", Value: `quo"te é ]`}) +
		`, "b" : ` + cursorText(ent.Cursor{ID: "ipl_2"}) + ",\n" +
		` "c":` + cursorText(ent.Cursor{ID: "ipl_3", Value: time.UnixMicro(1790000000123456)}) +
		`, "d" : ` + cursorText(ent.Cursor{ID: "sac_1", Value: 42}) +
		`, "e" : ` + cursorText(ent.Cursor{ID: "rsl_1", Value: money.Cents(-1999)}) +
		`, "f" : "[\"\u0001s\" stays"}`
	s := &Statement{placeholders: true}
	got, err := s.Finish([]byte(in), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{`["\u0001s", "ipl_1"`, `["\u0001s", ]`, `["\u0001s"]`, `["\u0001t", "ipl_1", "x"]`} {
		if _, err := s.Finish([]byte(bad), time.Time{}); err == nil || !strings.Contains(err.Error(), "placeholder") {
			t.Errorf("%s: want a malformed-placeholder error, got %v", bad, err)
		}
	}
}
