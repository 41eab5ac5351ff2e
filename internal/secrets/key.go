package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a secrets key: AES-256.
const KeySize = 32

// KeySource says where the key comes from: Raw (already decoded, e.g. from
// NIMBUS_SECRETS_KEY) wins; otherwise File, which LoadKey creates with 32
// random bytes and mode 0600 when it does not exist and create is true.
type KeySource struct {
	Raw  []byte
	File string
}

// Key is a loaded secrets key; it seals and opens values.
type Key struct {
	aead cipher.AEAD
	// Fingerprint identifies the key in messages (hex of SHA-256 over a
	// label and the key, truncated; it reveals nothing usable).
	Fingerprint string
	// Generated reports that LoadKey created the key file.
	Generated bool
}

// LoadKey reads (or, if create, generates) the key. A key file holds the 32
// bytes raw or as base64 text.
func LoadKey(src KeySource, create bool) (*Key, error) {
	if src.Raw != nil {
		return newKey(src.Raw, false)
	}
	b, err := os.ReadFile(src.File)
	if errors.Is(err, fs.ErrNotExist) && create {
		return generateKey(src.File)
	}
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	raw, err := decodeKey(b)
	if err != nil {
		return nil, fmt.Errorf("secrets key file %s: %w", src.File, err)
	}
	return newKey(raw, false)
}

// DecodeKey decodes a key given as base64 text (standard or URL alphabet,
// padded or not).
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("the key must be %d bytes, not %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("the key is not base64 of %d bytes", KeySize)
}

func decodeKey(b []byte) ([]byte, error) {
	if len(b) == KeySize {
		return b, nil
	}
	return DecodeKey(string(b))
}

func generateKey(path string) (*Key, error) {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	// O_EXCL: never overwrite a key another process just wrote.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	return newKey(raw, true)
}

func newKey(raw []byte, generated bool) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("the secrets key must be %d bytes, not %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("nimbus secrets key fingerprint\x00"), raw...))
	return &Key{aead: aead, Fingerprint: hex.EncodeToString(sum[:6]), Generated: generated}, nil
}

// Seal encrypts plain bound to context (additional data): nonce ‖ ciphertext.
func (k *Key) Seal(plain []byte, context string) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plain, []byte(context))
}

// errOpen is a value that does not open with this key and context.
var errOpen = errors.New("secrets: a sealed value does not open with this key (wrong key, or a value moved between names)")

// Open decrypts a value sealed with Seal and the same context.
func (k *Key) Open(sealed []byte, context string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errOpen
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}
