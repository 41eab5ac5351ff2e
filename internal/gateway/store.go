package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// StoreBucket is the KV bucket holding deployed APIs: key = API id, value = JSON API.
const StoreBucket = "gateway_apis"

// Store persists the gateway's APIs and applies them to a Gateway: Load at
// start, Put and Delete when an API is deployed or removed (write first, then
// serve, so what is served is always durable).
type Store struct {
	kv jetstream.KeyValue
	g  *Gateway
}

// NewStore returns a store for g.
func NewStore(kv jetstream.KeyValue, g *Gateway) *Store { return &Store{kv: kv, g: g} }

// Load reads every stored API and serves them, in id order.
func (s *Store) Load(ctx context.Context) error {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("gateway store: list: %w", err)
	}
	var ids []string
	for k := range keys.Keys() {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	apis := make([]API, 0, len(ids))
	for _, id := range ids {
		e, err := s.kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("gateway store: get %s: %w", id, err)
		}
		var a API
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return fmt.Errorf("gateway store: decode %s: %w", id, err)
		}
		apis = append(apis, a)
	}
	return s.g.SetAPIs(apis)
}

// Put validates, stores and serves an API (replacing one with the same id).
func (s *Store) Put(ctx context.Context, a API) error {
	if err := validate(append(otherAPIs(s.g.APIs(), a.ID), a)); err != nil {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, a.ID, b); err != nil {
		return fmt.Errorf("gateway store: put %s: %w", a.ID, err)
	}
	return s.g.PutAPI(a)
}

// Delete removes an API.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !slices.ContainsFunc(s.g.APIs(), func(a API) bool { return a.ID == id }) {
		return lambda.NotFound("API not found: %s", id)
	}
	if err := s.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("gateway store: delete %s: %w", id, err)
	}
	s.g.DeleteAPI(id)
	return nil
}

func otherAPIs(apis []API, id string) []API {
	out := apis[:0:0]
	for _, a := range apis {
		if !strings.EqualFold(a.ID, id) {
			out = append(out, a)
		}
	}
	return out
}
