// Package billing turns billable runs into monthly invoices.
package billing

import (
	"math/big"
	"time"

	"clnd/internal/money"
)

// Period is a pay period: a calendar month in UTC, [Start, End).
type Period struct {
	Start, End time.Time
}

// Month returns the period of the month containing t.
func Month(t time.Time) Period {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return Period{Start: start, End: start.AddDate(0, 1, 0)}
}

// ParseMonth reads "2026-10".
func ParseMonth(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Period{}, err
	}
	return Month(t), nil
}

// String is "2026-10".
func (p Period) String() string { return p.Start.Format("2006-01") }

// Overlap is the part of [from, to) inside the period; ok is false when they
// do not overlap. A nil to means "still running".
func (p Period) Overlap(from time.Time, to *time.Time) (start, end time.Time, ok bool) {
	start, end = from, p.End
	if start.Before(p.Start) {
		start = p.Start
	}
	if to != nil && to.Before(end) {
		end = *to
	}
	return start, end, end.After(start)
}

// Prorate is the one proration rule of clnd:
// round_half_up(unitPrice × quantity × active / period). Time is counted in
// microseconds (what the database keeps), which gives the same ratio as
// seconds for whole-second times and stays exact otherwise. Big integers keep
// the product from overflowing.
func Prorate(unitPrice money.Cents, quantity int, active, period time.Duration) money.Cents {
	if active <= 0 || quantity == 0 || unitPrice == 0 {
		return 0
	}
	num := big.NewInt(int64(unitPrice))
	num.Mul(num, big.NewInt(int64(quantity)))
	num.Mul(num, big.NewInt(active.Microseconds()))
	den := big.NewInt(period.Microseconds())
	// round half up for non-negative amounts: floor((2·num + den) / (2·den))
	num.Mul(num, big.NewInt(2))
	num.Add(num, den)
	den.Mul(den, big.NewInt(2))
	num.Quo(num, den)
	return money.Cents(num.Int64())
}
