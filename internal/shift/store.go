package shift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of deployment records.
const Bucket = "nimbus_deployments"

// Store keeps one record per alias. KV is the durable implementation.
type Store interface {
	// Get returns the record for a function's alias, or nil.
	Get(ctx context.Context, function, alias string) (*Deployment, error)
	Put(ctx context.Context, d *Deployment) error
	// List returns every record, ordered by key.
	List(ctx context.Context) ([]*Deployment, error)
}

// KV is a Store in a JetStream KV bucket.
type KV struct{ KV jetstream.KeyValue }

// Get implements Store.
func (s KV) Get(ctx context.Context, function, alias string) (*Deployment, error) {
	e, err := s.KV.Get(ctx, key(function, alias))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deployments: get %s:%s: %w", function, alias, err)
	}
	return decode(e.Value())
}

// Put implements Store.
func (s KV) Put(ctx context.Context, d *Deployment) error {
	saved := *d
	saved.Health = nil
	b, err := json.Marshal(&saved)
	if err != nil {
		return err
	}
	if _, err := s.KV.Put(ctx, d.key(), b); err != nil {
		return fmt.Errorf("deployments: put %s: %w", d.key(), err)
	}
	return nil
}

// List implements Store.
func (s KV) List(ctx context.Context) ([]*Deployment, error) {
	keys, err := s.KV.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("deployments: list: %w", err)
	}
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]*Deployment, 0, len(names))
	for _, k := range names {
		e, err := s.KV.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted in between
		}
		if err != nil {
			return nil, fmt.Errorf("deployments: get %s: %w", k, err)
		}
		d, err := decode(e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func decode(b []byte) (*Deployment, error) {
	var d Deployment
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("deployments: decode: %w", err)
	}
	return &d, nil
}

// compare orders records by function, then alias.
func compare(a, b *Deployment) int {
	if c := strings.Compare(a.Function, b.Function); c != 0 {
		return c
	}
	return strings.Compare(a.Alias, b.Alias)
}
