// Package auth turns bearer tokens into viewers and makes the secrets that
// clnd hands out. Only SHA-256 hashes of tokens are stored: the tokens are 256
// random bits, so a fast hash is as safe as a slow one and costs nothing per
// request. Passwords, which are not random, use argon2id (password.go).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Token kinds, told apart by their prefix so that one lookup finds the table.
const (
	OperatorPrefix   = "clnd_op_"
	SessionPrefix    = "clnd_ses_"
	APITokenPrefix   = "clnd_api_"
	CredentialPrefix = "clnd_srv_"
)

// NewSecret returns a fresh token with the prefix and its hash.
func NewSecret(prefix string) (token string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashSecret(token)
}

// HashSecret is what is stored for a token.
func HashSecret(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// kindOf returns the token's prefix, or "" for a string that is no clnd token.
func kindOf(token string) string {
	for _, p := range []string{OperatorPrefix, SessionPrefix, APITokenPrefix, CredentialPrefix} {
		if strings.HasPrefix(token, p) && len(token) > len(p) {
			return p
		}
	}
	return ""
}
