package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A CLND_SECRETS_KEY that is not a 32-byte key refuses to start, naming the
// variable and never echoing its value.
func TestServeRefusesABadSecretsKey(t *testing.T) {
	const value = "not-a-key-but-secret-xyz"
	t.Setenv("CLND_SECRETS_KEY", value)
	_, stderr, err := runCLI(t, "serve", "--sandbox", "--addr", freeAddr(t), "--database-url", "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
	if err == nil || !strings.Contains(err.Error(), "CLND_SECRETS_KEY") || strings.Contains(err.Error()+stderr, value) {
		t.Fatalf("serve with a bad key: %v\n%s", err, stderr)
	}
}
