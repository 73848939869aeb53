package billing

import (
	"testing"
	"time"

	"clnd/internal/money"
)

func TestProrateAPIExample(t *testing.T) {
	// API.md: CLOUDLINUX_OS at "31.00", added 2026-10-11T00:00:00Z, never removed: "21.00".
	p := Month(time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC))
	start, end, ok := p.Overlap(time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC), nil)
	if !ok {
		t.Fatal("no overlap")
	}
	got := Prorate(money.MustParse("31.00"), 1, end.Sub(start), p.End.Sub(p.Start))
	if got != money.MustParse("21.00") {
		t.Fatalf("got %s, want 21.00", got)
	}
}

func TestProrateRounding(t *testing.T) {
	month := 30 * 24 * time.Hour
	cases := []struct {
		unit   string
		qty    int
		active time.Duration
		want   string
	}{
		{"10.00", 1, month, "10.00"},
		{"10.00", 3, month, "30.00"},
		{"0.01", 1, month / 2, "0.01"}, // 0.5 cent rounds half up
		{"0.01", 1, month / 3, "0.00"}, // 0.33 cent rounds down
		{"0.03", 1, month / 2, "0.02"}, // 1.5 cents rounds up
		{"31.00", 1, 0, "0.00"},
		{"9999999999.99", 1000000, month, "9999999999990000.00"},
	}
	for _, c := range cases {
		got := Prorate(money.MustParse(c.unit), c.qty, c.active, month)
		if got.String() != c.want {
			t.Errorf("Prorate(%s × %d, %v) = %s; want %s", c.unit, c.qty, c.active, got, c.want)
		}
	}
}

func TestOverlap(t *testing.T) {
	p, _ := ParseMonth("2026-02")
	before := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	endedEarly := time.Date(2026, 1, 25, 0, 0, 0, 0, time.UTC)
	if _, _, ok := p.Overlap(before, &endedEarly); ok {
		t.Error("a run that ended before the period must not overlap it")
	}
	mid := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)
	s, e, ok := p.Overlap(before, &mid)
	if !ok || !s.Equal(p.Start) || !e.Equal(mid) {
		t.Errorf("got %v..%v %v", s, e, ok)
	}
	if p.String() != "2026-02" || !p.End.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("bad period %v", p)
	}
}
