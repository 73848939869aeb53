// Package money holds the one representation of money in clnd: integer cents.
// Money crosses the API as a decimal string with exactly two fraction digits
// ("20.00", "-3.50"); no float ever touches it.
package money

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Cents is an amount of US dollars in cents.
type Cents int64

// ErrInvalid is returned for anything that is not a plain decimal amount.
var ErrInvalid = errors.New(`money: expected a decimal amount with at most two fraction digits, like "20.00"`)

var moneyPattern = regexp.MustCompile(`^(-?)([0-9]{1,10})(?:\.([0-9]{1,2}))?$`)

// Parse reads "20", "20.5", "20.50" or "-3.50". Exponents, more than two
// fraction digits, signs other than a leading minus and spaces are refused.
func Parse(s string) (Cents, error) {
	m := moneyPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, ErrInvalid
	}
	dollars, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return 0, ErrInvalid
	}
	frac := m[3]
	if len(frac) == 1 {
		frac += "0"
	}
	var cents int64
	if frac != "" {
		cents, _ = strconv.ParseInt(frac, 10, 64)
	}
	// At most ten integer digits: sums of many amounts stay far from int64 overflow.
	total := Cents(dollars*100 + cents)
	if m[1] == "-" {
		total = -total
	}
	return total, nil
}

// MustParse is Parse for constants in code and tests.
func MustParse(s string) Cents {
	c, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("money.MustParse(%q): %v", s, err))
	}
	return c
}

// String formats with exactly two fraction digits.
func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalGQL writes the GraphQL Money scalar.
func (c Cents) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(c.String()))
}

// UnmarshalGQL reads the GraphQL Money scalar. Only strings are accepted:
// a JSON number may already have lost precision on the way here.
func (c *Cents) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return ErrInvalid
	}
	parsed, err := Parse(strings.TrimSpace(s))
	if err != nil || strings.TrimSpace(s) != s {
		return ErrInvalid
	}
	*c = parsed
	return nil
}
