package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/secrets"
)

// openSecrets loads the secrets key (NIMBUS_SECRETS_KEY, else the key file,
// generated on first run) and opens the secrets store. A key that does not
// match the data dir's key check value stops the start with a message that
// says so.
func openSecrets(ctx context.Context, cfg *config.Server, bb *backbone.Backbone, log *slog.Logger, stderr io.Writer) (*secrets.Store, error) {
	src := secrets.KeySource{File: cfg.SecretsKeyFile}
	if cfg.SecretsKey != "" {
		raw, err := secrets.DecodeKey(cfg.SecretsKey)
		if err != nil {
			return nil, fmt.Errorf("NIMBUS_SECRETS_KEY: %w", err)
		}
		src = secrets.KeySource{Raw: raw}
	}
	kv, err := bb.KeyValue(ctx, secrets.Bucket)
	if err != nil {
		return nil, err
	}
	store, err := secrets.Open(ctx, kv, src)
	if err != nil {
		return nil, err
	}
	if store.Key().Generated {
		fmt.Fprintf(stderr, "secrets: generated a new key in %s (keep it: secrets and stack records cannot be read without it)\n", cfg.SecretsKeyFile)
	}
	log.Debug("secrets key loaded", "fingerprint", store.Key().Fingerprint)
	return store, nil
}

// sealedStack is how a stack record is stored: the record ({"plan",
// "deployedAt"}) sealed with the secrets key and bound to the stack's name,
// because a plan holds resolved parameter values, NoEcho ones included.
// Diffs keep working unchanged: the deployer reads the opened record.
type sealedStack struct {
	Sealed []byte `json:"sealed"`
}

func stackContext(name string) string { return "stack\x00" + name }

// sealStack seals a stack record for storage (a nil key stores it as is).
func sealStack(key *secrets.Key, name string, record []byte) ([]byte, error) {
	if key == nil {
		return record, nil
	}
	return json.Marshal(sealedStack{Sealed: key.Seal(record, stackContext(name))})
}

// openStack returns the record of a stored stack: opened if sealed, as is
// if it was stored before records were sealed.
func openStack(key *secrets.Key, name string, stored []byte) ([]byte, error) {
	var s sealedStack
	if json.Unmarshal(stored, &s) != nil || s.Sealed == nil {
		return stored, nil
	}
	if key == nil {
		return nil, fmt.Errorf("stacks: %s is sealed and no secrets key is loaded", name)
	}
	record, err := key.Open(s.Sealed, stackContext(name))
	if err != nil {
		return nil, fmt.Errorf("stacks: open %s: %w", name, err)
	}
	return record, nil
}
