package main

import (
	"log/slog"
	"os"

	"clnd/internal/clnsecret"
)

// clnKeyring is the key that seals CLN API secrets, from the environment
// only (a flag would show in process lists) and never printed. Without it
// the CLN API stays off outside sandbox mode, and the log says which
// variable turns it on; sandbox mode generates a key of its own.
func clnKeyring(sandbox bool, log *slog.Logger) (clnsecret.Keyring, error) {
	value, set := os.LookupEnv(clnsecret.KeyEnv)
	if set && value != "" {
		return clnsecret.ParseKey(value) // its error names the variable, not the value
	}
	if !sandbox {
		log.Warn("the CLN reseller API under /api/ is off: set " + clnsecret.KeyEnv + " (openssl rand -hex 32) to turn it on (docs/cln-api.md)")
	}
	return clnsecret.Keyring{}, nil
}
