package money

import "testing"

func TestParse(t *testing.T) {
	good := map[string]Cents{
		"20": 2000, "20.5": 2050, "20.50": 2050, "-3.50": -350, "0.01": 1, "0": 0, "-0.10": -10,
		"9999999999.99": 999999999999,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.234", "1e3", "abc", "+5", " 5", "5 ", "1,00", ".5", "5.", "--1", "0x10", "NaN", "99999999999"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded; want error", in)
		}
	}
}

func TestString(t *testing.T) {
	for c, want := range map[Cents]string{0: "0.00", 2000: "20.00", -350: "-3.50", 5: "0.05", -5: "-0.05", 123456: "1234.56"} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int64(c), got, want)
		}
	}
}

func TestUnmarshalGQLRefusesNumbers(t *testing.T) {
	var c Cents
	if err := c.UnmarshalGQL(20.5); err == nil {
		t.Fatal("a float must not be accepted as Money")
	}
	if err := c.UnmarshalGQL("20.50"); err != nil || c != 2050 {
		t.Fatalf("UnmarshalGQL(\"20.50\") = %v, %v", c, err)
	}
}
