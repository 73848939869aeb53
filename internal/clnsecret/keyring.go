// Package clnsecret keeps resellers' secrets for the CLN reseller REST API
// (internal/clnapi). The protocol proves a request with sha1(secret + ts),
// so clnd must recover each secret's plaintext: secrets are sealed with
// AES-256-GCM under a server key (CLND_SECRETS_KEY), not hashed, and shown
// to the reseller once, when made.
package clnsecret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"clnd/ent"
	"clnd/internal/apperr"
	"clnd/internal/secrets"
)

// KeyEnv is the environment variable that holds the server key.
const KeyEnv = "CLND_SECRETS_KEY"

// sandboxKeyName is the settings row of sandbox mode's generated key: made
// once, shared by every instance on the database, kept across restarts.
const sandboxKeyName = "secret.cln_api.sandbox_key"

// ErrDisabled answers everything about CLN secrets on a server started
// without a key outside sandbox mode.
var ErrDisabled = apperr.New(apperr.Forbidden, "the CLN API is not enabled on this server: the operator must set "+KeyEnv)

// Keyring seals and opens secrets. The zero Keyring is disabled: it seals
// nothing and opens nothing.
type Keyring struct {
	aead cipher.AEAD
}

// ParseKey reads a 32-byte key written as 64 hex digits or in base64
// (openssl rand -hex 32, or -base64 32). The value is never echoed in errors.
func ParseKey(s string) (Keyring, error) {
	s = strings.TrimSpace(s)
	var key []byte
	if b, err := hex.DecodeString(s); err == nil {
		key = b
	} else if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		key = b
	}
	if len(key) != 32 {
		return Keyring{}, fmt.Errorf("%s must be 32 bytes written as 64 hex digits or in base64 (openssl rand -hex 32)", KeyEnv)
	}
	return newKeyring(key)
}

// SandboxKeyring is sandbox mode's keyring when no key is configured: a key
// generated once and kept in the database. It protects nothing a sandbox's
// database does not already expose, which is why production needs KeyEnv.
func SandboxKeyring(ctx context.Context, client *ent.Client) (Keyring, error) {
	key, err := secrets.Get(ctx, client, sandboxKeyName)
	if err != nil {
		return Keyring{}, err
	}
	return newKeyring(key)
}

func newKeyring(key []byte) (Keyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return Keyring{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Keyring{}, err
	}
	return Keyring{aead: aead}, nil
}

// Enabled reports whether the keyring has a key.
func (k Keyring) Enabled() bool { return k.aead != nil }

// seal encrypts a secret for one row: the row's ID is the additional data,
// so a sealed value copied into another row (another reseller's) does not open.
func (k Keyring) seal(rowID, secret string) ([]byte, error) {
	if !k.Enabled() {
		return nil, ErrDisabled
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(secret)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, []byte(secret), []byte(rowID)), nil
}

// errUnsealable is a sealed value that does not open with this key: the key
// changed, or the row was tampered with.
var errUnsealable = errors.New("clnsecret: a sealed secret does not open with the configured key")

// open decrypts a row's sealed secret.
func (k Keyring) open(rowID string, sealed []byte) (string, error) {
	if !k.Enabled() {
		return "", ErrDisabled
	}
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return "", errUnsealable
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(rowID))
	if err != nil {
		return "", errUnsealable
	}
	return string(plain), nil
}
