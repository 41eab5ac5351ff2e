// Package registry holds the control-plane state of functions: each function's
// $LATEST configuration and its published versions, in one JetStream KV record per
// function (bucket "lambda_functions", key = function name, value = JSON Function).
//
// Reads are served from an in-memory cache that a KV watch keeps current, so the
// invoke path never waits on storage; writes go to KV first (compare-and-set on the
// record's revision) and are applied to the cache before returning, so a caller
// reads its own writes. Cached *Function values are immutable: writers copy.
// The cache can always be rebuilt from KV, which is what happens at start.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Bucket is the KV bucket holding function records.
const Bucket = "lambda_functions"

// Function is the durable record of one function.
type Function struct {
	Latest lambda.Config `json:"latest"`
	// Versions are the published versions, in ascending order.
	Versions []lambda.Config `json:"versions,omitempty"`
	// LastVersion is the number of the last version ever published (numbers are not reused).
	LastVersion int `json:"lastVersion"`
	// Aliases by name.
	Aliases map[string]lambda.Alias `json:"aliases,omitempty"`
	// Reserved is the reserved concurrency; nil when the function has none.
	Reserved *int `json:"reserved,omitempty"`
	// Provisioned maps a version number or alias name to its provisioned concurrency.
	Provisioned map[string]lambda.Provisioned `json:"provisioned,omitempty"`
	// EventInvoke maps a qualifier ("$LATEST", a version or an alias) to its async configuration.
	EventInvoke map[string]lambda.EventInvokeConfig `json:"eventInvoke,omitempty"`
	// URLs maps a qualifier ("$LATEST" or an alias) to its function URL.
	URLs map[string]lambda.FunctionURLConfig `json:"urls,omitempty"`
}

// EventInvokeConfig returns the async configuration for an invocation of
// qualifier q ("" means $LATEST), or nil.
func (f *Function) EventInvokeConfig(q string) *lambda.EventInvokeConfig {
	if q == "" {
		q = lambda.Latest
	}
	if c, ok := f.EventInvoke[q]; ok {
		return &c
	}
	return nil
}

// Resolve returns the configuration a qualifier designates: $LATEST (or ""), a
// version, or an alias, which routes by its weights (pick is a number in [0,1)
// that decides between the alias's versions). ok is false if nothing matches.
func (f *Function) Resolve(q string, pick float64) (cfg *lambda.Config, ok bool) {
	if a, isAlias := f.Aliases[q]; isAlias {
		v := a.FunctionVersion
		if a.RoutingConfig != nil {
			for other, w := range a.RoutingConfig.AdditionalVersionWeights {
				if pick < w {
					v = other
				}
			}
		}
		return f.Version(v)
	}
	return f.Version(q)
}

// ProvisionedVersion returns the version a provisioned configuration's qualifier
// (a version or an alias) runs.
func (f *Function) ProvisionedVersion(q string) (string, bool) {
	if a, ok := f.Aliases[q]; ok {
		return a.FunctionVersion, true
	}
	_, ok := f.Version(q)
	return q, ok && q != lambda.Latest && q != ""
}

// Version returns the configuration for a qualifier ("" or $LATEST, or a version number).
func (f *Function) Version(q string) (*lambda.Config, bool) {
	if q == "" || q == lambda.Latest {
		return &f.Latest, true
	}
	for i := range f.Versions {
		if f.Versions[i].Version == q {
			return &f.Versions[i], true
		}
	}
	return nil, false
}

func (f *Function) clone() *Function {
	b, _ := json.Marshal(f)
	var c Function
	_ = json.Unmarshal(b, &c)
	return &c
}

type entry struct {
	rev uint64
	fn  *Function // nil: deleted
}

// Registry is the function registry. It is safe for concurrent use.
type Registry struct {
	kv jetstream.KeyValue
	w  jetstream.KeyWatcher

	mu    sync.RWMutex
	cache map[string]entry  // guarded by mu
	urls  map[string]urlRef // guarded by mu: function URLs by lambda.FunctionURLID
}

// Open loads every function from kv and starts watching it. Run must be called to keep the cache current.
func Open(ctx context.Context, kv jetstream.KeyValue) (*Registry, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: watch: %w", err)
	}
	r := &Registry{kv: kv, w: w, cache: map[string]entry{}, urls: map[string]urlRef{}}
	for u := range w.Updates() {
		if u == nil { // initial values delivered
			return r, nil
		}
		r.apply(u)
	}
	return nil, errors.New("registry: watch closed during load")
}

// Run applies changes made by others (other nodes) until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	defer r.w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-r.w.Updates():
			if !ok {
				return nil
			}
			if u != nil {
				r.apply(u)
			}
		}
	}
}

func (r *Registry) apply(u jetstream.KeyValueEntry) {
	var fn *Function
	if u.Operation() == jetstream.KeyValuePut {
		fn = new(Function)
		if err := json.Unmarshal(u.Value(), fn); err != nil {
			return // not ours; never written by this package
		}
	}
	r.store(u.Key(), u.Revision(), fn)
}

func (r *Registry) store(name string, rev uint64, fn *Function) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.cache[name]
	if ok && cur.rev >= rev {
		return
	}
	r.cache[name] = entry{rev: rev, fn: fn}
	r.indexURLs(cur.fn, fn)
}

// Get returns the function named name. The result must not be modified.
func (r *Registry) Get(name string) (*Function, bool) {
	r.mu.RLock()
	e, ok := r.cache[name]
	r.mu.RUnlock()
	if !ok || e.fn == nil {
		return nil, false
	}
	return e.fn, true
}

// List returns every function, ordered by name.
func (r *Registry) List() []*Function {
	r.mu.RLock()
	out := make([]*Function, 0, len(r.cache))
	for _, e := range r.cache {
		if e.fn != nil {
			out = append(out, e.fn)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Function) int { return strings.Compare(a.Latest.FunctionName, b.Latest.FunctionName) })
	return out
}

// Create stores a new function; a function of that name existing is a ResourceConflictException.
func (r *Registry) Create(ctx context.Context, fn *Function) error {
	b, err := json.Marshal(fn)
	if err != nil {
		return err
	}
	name := fn.Latest.FunctionName
	rev, err := r.kv.Create(ctx, name, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return lambda.Conflict("Function already exist: %s", name)
	}
	if err != nil {
		return fmt.Errorf("registry: create %s: %w", name, err)
	}
	r.store(name, rev, fn)
	return nil
}

// Update applies change to a copy of the named function and stores it with
// compare-and-set, retrying on concurrent writes. change may return a *lambda.Error
// to refuse the update. It returns the stored function.
func (r *Registry) Update(ctx context.Context, name string, change func(*Function) error) (*Function, error) {
	for attempt := 0; attempt < 16; attempt++ {
		e, err := r.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, lambda.NotFound("Function not found: %s", lambda.FunctionARN(name))
		}
		if err != nil {
			return nil, fmt.Errorf("registry: get %s: %w", name, err)
		}
		var fn Function
		if err := json.Unmarshal(e.Value(), &fn); err != nil {
			return nil, fmt.Errorf("registry: decode %s: %w", name, err)
		}
		if err := change(&fn); err != nil {
			return nil, err
		}
		b, err := json.Marshal(&fn)
		if err != nil {
			return nil, err
		}
		rev, err := r.kv.Update(ctx, name, b, e.Revision())
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
				continue // lost a race; read again
			}
			return nil, fmt.Errorf("registry: update %s: %w", name, err)
		}
		stored := fn.clone()
		r.store(name, rev, stored)
		return stored, nil
	}
	return nil, lambda.Conflict("The operation cannot be performed at this time. An update is in progress for resource: %s", lambda.FunctionARN(name))
}

// Delete removes a function and all its versions.
func (r *Registry) Delete(ctx context.Context, name string) error {
	if _, ok := r.Get(name); !ok {
		if _, err := r.kv.Get(ctx, name); errors.Is(err, jetstream.ErrKeyNotFound) {
			return lambda.NotFound("Function not found: %s", lambda.FunctionARN(name))
		}
	}
	if err := r.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("registry: delete %s: %w", name, err)
	}
	// The watch delivers the delete marker with its real revision later; until then
	// a tombstone at the last known revision hides the function. (Not one past it:
	// if the watch has already applied the delete marker, that is the revision a
	// Create right after this Delete gets, and the Create would be ignored.)
	r.mu.Lock()
	r.indexURLs(r.cache[name].fn, nil)
	r.cache[name] = entry{rev: r.cache[name].rev}
	r.mu.Unlock()
	return nil
}
