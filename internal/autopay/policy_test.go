package autopay

import (
	"testing"

	"clnd/internal/money"
)

func TestDue(t *testing.T) {
	m := money.MustParse
	cases := []struct {
		mode            Mode
		balance, target string
		want            string
	}{
		{Repay, "-3.50", "0", "20.00"},  // at least the minimum
		{Repay, "-75.25", "0", "75.25"}, // what is owed
		{Repay, "0.00", "0", "0.00"},    // nothing owed
		{Repay, "12.00", "0", "0.00"},
		{AddFunds, "99.99", "250.00", "150.01"},
		{AddFunds, "-10.00", "250.00", "260.00"},
		{AddFunds, "100.00", "250.00", "0.00"}, // not below the threshold
		{None, "-500.00", "0", "0.00"},
	}
	for _, c := range cases {
		if got := Due(c.mode, m(c.balance), m(c.target)); got != m(c.want) {
			t.Errorf("Due(%s, %s, %s) = %s; want %s", c.mode, c.balance, c.target, got, c.want)
		}
	}
}
