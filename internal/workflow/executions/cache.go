package executions

import (
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// cache mirrors a KV bucket in memory: a value per key with the revision it
// was read at (nil for a deleted key, kept as a tombstone so that a late
// watch update cannot resurrect it). It is safe for concurrent use; cached
// values are immutable (writers store fresh copies).
type cache[T any] struct {
	mu sync.RWMutex
	m  map[string]cached[T] // guarded by mu
	// onStore, when set, sees every change under mu (for secondary indexes).
	onStore func(k string, old, cur *T)
}

type cached[T any] struct {
	rev uint64
	v   *T
}

func newCache[T any]() *cache[T] { return &cache[T]{m: map[string]cached[T]{}} }

// store records v (nil: deleted) at rev unless a newer revision is known.
func (c *cache[T]) store(k string, rev uint64, v *T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[k]
	if ok && cur.rev >= rev {
		return
	}
	c.m[k] = cached[T]{rev: rev, v: v}
	if c.onStore != nil {
		c.onStore(k, cur.v, v)
	}
}

// tombstone hides k until the watch delivers its real delete marker.
func (c *cache[T]) tombstone(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.m[k]
	c.m[k] = cached[T]{rev: cur.rev + 1}
	if c.onStore != nil {
		c.onStore(k, cur.v, nil)
	}
}

func (c *cache[T]) get(k string) (*T, bool) {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	return e.v, e.v != nil
}

// apply folds a watch update into the cache.
func (c *cache[T]) apply(u jetstream.KeyValueEntry, trim func(*T)) {
	c.mu.RLock()
	known := c.m[u.Key()].rev >= u.Revision()
	c.mu.RUnlock()
	if known {
		return // our own write, already applied
	}
	var v *T
	if u.Operation() == jetstream.KeyValuePut {
		v = new(T)
		if err := json.Unmarshal(u.Value(), v); err != nil {
			return // not written by this package
		}
		if trim != nil {
			trim(v)
		}
	}
	c.store(u.Key(), u.Revision(), v)
}

// each calls f for every live value, under the read lock (f must not block).
func (c *cache[T]) each(f func(k string, v *T)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, e := range c.m {
		if e.v != nil {
			f(k, e.v)
		}
	}
}
