package licensing

import (
	"strings"
	"unicode"

	"clnd/internal/apperr"
)

// MaxHostnameLength is the DNS limit.
const MaxHostnameLength = 253

// CleanHostname trims a hostname and refuses one that is too long or holds
// spaces or control characters (a NUL would make PostgreSQL refuse the
// whole check-in batch it travels in).
func CleanHostname(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxHostnameLength {
		return "", apperr.Input(field, "a hostname has at most %d characters", MaxHostnameLength)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", apperr.Input(field, "a hostname cannot contain spaces or control characters")
	}
	return s, nil
}
