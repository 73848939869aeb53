package accounts

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"clnd/internal/apperr"
	"clnd/internal/auth"
)

var loginPattern = regexp.MustCompile(`^[a-z0-9._-]{3,64}$`)

// NormalizeLogin lower-cases a login and checks API.md's rule: 3–64 of
// a-z 0-9 . _ -, compared without case.
func NormalizeLogin(field, login string) (string, error) {
	l := strings.ToLower(strings.TrimSpace(login))
	if !loginPattern.MatchString(l) {
		return "", apperr.Input(field, "a login is 3 to 64 of a-z, 0-9, '.', '_' and '-'")
	}
	return l, nil
}

// MaxPasswordLength keeps argon2id's input sane.
const MaxPasswordLength = 1024

func checkPassword(password string) error {
	n := utf8.RuneCountInString(password)
	if n < auth.MinPasswordLength {
		return apperr.Input("password", "a password has at least %d characters", auth.MinPasswordLength)
	}
	if len(password) > MaxPasswordLength {
		return apperr.Input("password", "a password has at most %d bytes", MaxPasswordLength)
	}
	return nil
}

// CheckEmail trims an email address and checks it is a bare address.
func CheckEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return "", apperr.Input(field, "%q is not an email address", email)
	}
	return email, nil
}

// MaxNameLength bounds company and person names.
const MaxNameLength = 200

// CheckName trims a company or person name and bounds its length.
func CheckName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxNameLength {
		return "", apperr.Input(field, "%s has at most %d characters", field, MaxNameLength)
	}
	return s, nil
}
