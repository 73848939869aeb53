package auth

import (
	"sync"

	"github.com/alexedwards/argon2id"
)

// MinPasswordLength is API.md's lower bound.
const MinPasswordLength = 10

// passwordParams are OWASP's argon2id recommendation (19 MiB, 2 passes),
// about 20 ms here: slow for a guesser, cheap enough for a login.
var passwordParams = &argon2id.Params{
	Memory:      19 * 1024,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// HashPassword returns the PHC-encoded argon2id hash of a password.
func HashPassword(password string) (string, error) {
	return argon2id.CreateHash(password, passwordParams)
}

// CheckPassword compares a password with a stored hash in constant time.
func CheckPassword(password, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}

// dummyHash is compared against when a login does not exist, so that a wrong
// login takes as long as a wrong password and logins cannot be enumerated.
// It is made on first use: hashing costs 19 MiB that an idle server should
// not hold.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("clnd-dummy-password")
	return h
})

// BurnPasswordCheck spends the time of one password check.
func BurnPasswordCheck(password string) { CheckPassword(password, dummyHash()) }
