// Package sealed keeps the secrets clnd must read back in plain text (webhook
// signing secrets, CLN API secrets) encrypted at rest: AES-256-GCM under one
// server key, CLND_SECRETS_KEY. Hashing would not do: the secret itself
// signs or checks every message.
package sealed

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
	"clnd/internal/secrets"
)

// KeyEnv is the environment variable that holds the server key.
const KeyEnv = "CLND_SECRETS_KEY"

// sandboxKeyName is the settings row of sandbox mode's generated key.
const sandboxKeyName = "secret.sealing.sandbox_key"

// ErrNoKey is sealing or opening with the zero Keyring.
var ErrNoKey = errors.New("no " + KeyEnv + " is configured")

// Keyring seals and opens secrets. The zero Keyring has no key: it seals and
// opens nothing (Enabled is false).
type Keyring struct {
	aead cipher.AEAD
}

// ParseKey reads a 32-byte key written as 64 hex digits or in base64
// (openssl rand -hex 32). The value is never echoed in errors.
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
// made once and kept in the database, shared by every instance. It protects
// nothing the sandbox database does not already hold, which is why
// production needs KeyEnv.
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

// Seal encrypts plaintext bound to context (the row's ID, so a sealed value
// copied to another row does not open).
func (k Keyring) Seal(context, plaintext string) ([]byte, error) {
	if k.aead == nil {
		return nil, ErrNoKey
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(context)), nil
}

// Open decrypts what Seal returned for the same context.
func (k Keyring) Open(context string, sealed []byte) (string, error) {
	if k.aead == nil {
		return "", ErrNoKey
	}
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed secret is truncated")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return "", errors.New("sealed secret does not open with this server key (was " + KeyEnv + " changed?)")
	}
	return string(plain), nil
}
