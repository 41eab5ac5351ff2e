// Package artifact stores function code content-addressed and unpacks it once per
// code hash.
//
// A deployment zip is checked (limits, zip-slip, escaping symlinks; see package
// unzip) before anything is stored. Blobs live in the JetStream object store
// "lambda_code" under the hex SHA-256 of the zip; the unpacked tree lives in
// CacheDir/<hex> and is read-only. The cache is derived state: a missing tree is
// unpacked again from the blob on first use (after a restart on a fresh disk, say).
package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/artifact/unzip"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Bucket is the object store holding code blobs.
const Bucket = "lambda_code"

// Code identifies stored code as the Lambda API reports it.
type Code struct {
	Sha256 string // base64 of the SHA-256 of the zip (CodeSha256)
	Size   int64  // zipped size (CodeSize)
}

// Store is the code store. It is safe for concurrent use.
type Store struct {
	obj jetstream.ObjectStore
	dir string
}

// New returns a store keeping blobs in obj and unpacked trees under cacheDir.
func New(obj jetstream.ObjectStore, cacheDir string) (*Store, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	return &Store{obj: obj, dir: cacheDir}, nil
}

// Put validates a deployment zip, stores it if it is new and unpacks it.
// A bad archive is an InvalidParameterValueException naming the problem.
func (s *Store) Put(ctx context.Context, zip []byte) (Code, error) {
	if len(zip) > unzip.MaxZipped {
		return Code{}, lambda.RequestTooLarge("Zipped size must be smaller than %d bytes", unzip.MaxZipped)
	}
	if err := unzip.Check(zip); err != nil {
		return Code{}, userError(err)
	}
	sum := sha256.Sum256(zip)
	key := hex.EncodeToString(sum[:])
	if _, err := s.obj.GetInfo(ctx, key); errors.Is(err, jetstream.ErrObjectNotFound) {
		if _, err := s.obj.Put(ctx, jetstream.ObjectMeta{Name: key}, bytes.NewReader(zip)); err != nil {
			return Code{}, fmt.Errorf("artifact: store %s: %w", key, err)
		}
	} else if err != nil {
		return Code{}, fmt.Errorf("artifact: stat %s: %w", key, err)
	}
	if err := unzip.Extract(zip, filepath.Join(s.dir, key)); err != nil {
		return Code{}, userError(err)
	}
	return Code{Sha256: base64.StdEncoding.EncodeToString(sum[:]), Size: int64(len(zip))}, nil
}

// Dir returns the unpacked tree of the code whose CodeSha256 is sha, unpacking it
// from the stored blob if needed.
func (s *Store) Dir(ctx context.Context, sha string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(sha)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("artifact: bad code hash %q", sha)
	}
	key := hex.EncodeToString(raw)
	dir := filepath.Join(s.dir, key)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	zip, err := s.obj.GetBytes(ctx, key)
	if err != nil {
		return "", fmt.Errorf("artifact: load %s: %w", key, err)
	}
	if err := unzip.Extract(zip, dir); err != nil {
		return "", fmt.Errorf("artifact: unpack %s: %w", key, err)
	}
	return dir, nil
}

// Zip returns the stored deployment package whose CodeSha256 is sha.
func (s *Store) Zip(ctx context.Context, sha string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sha)
	if err != nil || len(raw) != sha256.Size {
		return nil, fmt.Errorf("artifact: bad code hash %q", sha)
	}
	return s.obj.GetBytes(ctx, hex.EncodeToString(raw))
}

func userError(err error) error {
	if ue, ok := errors.AsType[*unzip.Error](err); ok {
		return lambda.InvalidParameter("Could not unzip uploaded file. Please check your file, then try to upload again. %s", ue.Message)
	}
	return err
}
