package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of secrets.
const Bucket = "nimbus_secrets"

const keyCheckKey = "keycheck"

// keyCheckPlain is what the key check value seals.
const keyCheckPlain = "nimbus secrets key check v1"

// ErrWrongKey means the configured key is not the one this data dir's
// secrets were sealed with.
var ErrWrongKey = errors.New("secrets: wrong key")

// keyCheck is the stored key check value.
type keyCheck struct {
	Fingerprint string    `json:"fingerprint"`
	Sealed      []byte    `json:"sealed"`
	Created     time.Time `json:"created"`
}

// Store holds the secrets of one server. It is safe for concurrent use; it
// keeps no state but the KV bucket's (concurrent writers are ordered by
// revision checks).
type Store struct {
	kv  jetstream.KeyValue
	key *Key
	now func() time.Time
}

// Open loads the key, checks it against the bucket's key check value (writing
// one on first use) and returns the store. A key that does not match returns
// an error wrapping ErrWrongKey that says what to do; a missing key file is
// generated only when the bucket holds nothing sealed yet.
func Open(ctx context.Context, kv jetstream.KeyValue, src KeySource) (*Store, error) {
	var check *keyCheck
	e, err := kv.Get(ctx, keyCheckKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("secrets: read key check: %w", err)
	default:
		check = &keyCheck{}
		if err := json.Unmarshal(e.Value(), check); err != nil {
			return nil, fmt.Errorf("secrets: decode key check: %w", err)
		}
	}
	key, err := LoadKey(src, check == nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the secrets key file %s does not exist, but this data dir holds values sealed with a key (fingerprint %s); restore that key file or set NIMBUS_SECRETS_KEY", ErrWrongKey, src.File, check.Fingerprint)
	}
	if err != nil {
		return nil, err
	}
	if check == nil {
		b, _ := json.Marshal(keyCheck{Fingerprint: key.Fingerprint, Sealed: key.Seal([]byte(keyCheckPlain), keyCheckKey), Created: time.Now().UTC()})
		if _, err := kv.Create(ctx, keyCheckKey, b); err != nil {
			return nil, fmt.Errorf("secrets: write key check: %w", err)
		}
	} else if plain, err := key.Open(check.Sealed, keyCheckKey); err != nil || string(plain) != keyCheckPlain {
		return nil, fmt.Errorf("%w: the secrets key (fingerprint %s, from %s) is not the key this data dir's secrets and stack records were sealed with (fingerprint %s); start with the original key (--secrets-key-file or NIMBUS_SECRETS_KEY)",
			ErrWrongKey, key.Fingerprint, src.describe(), check.Fingerprint)
	}
	return &Store{kv: kv, key: key, now: time.Now}, nil
}

func (src KeySource) describe() string {
	if src.Raw != nil {
		return "NIMBUS_SECRETS_KEY"
	}
	return src.File
}

// Key returns the store's key, for sealing other records (stack records).
func (s *Store) Key() *Key { return s.key }

func recordKey(name string) string { return "s." + base64.RawURLEncoding.EncodeToString([]byte(name)) }

func nameOfKey(k string) (string, bool) {
	if len(k) < 2 || k[:2] != "s." {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(k[2:])
	return string(b), err == nil
}
