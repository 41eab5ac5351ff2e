package keepalive

import (
	"maps"
	"sync"
	"sync/atomic"
)

// table maps function names to per-function state. The map is copied on write
// (a function seen for the first time, or forgotten), so the lookup on every
// call is one atomic load and a map read: it neither allocates nor writes
// shared memory, and calls for different functions do not contend.
type table[S any] struct {
	mu sync.Mutex                           // serializes writers
	m  atomic.Pointer[map[string]*entry[S]] // never modified once stored
}

// entry is one function's state.
type entry[S any] struct {
	mu sync.Mutex
	s  S // guarded by mu
}

// get returns fn's entry, creating it if needed.
func (t *table[S]) get(fn string) *entry[S] {
	if m := t.m.Load(); m != nil {
		if e := (*m)[fn]; e != nil {
			return e
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.m.Load()
	if old != nil {
		if e := (*old)[fn]; e != nil {
			return e
		}
	}
	var m map[string]*entry[S]
	if old != nil {
		m = make(map[string]*entry[S], len(*old)+1)
		maps.Copy(m, *old)
	} else {
		m = map[string]*entry[S]{}
	}
	e := new(entry[S])
	m[fn] = e
	t.m.Store(&m)
	return e
}

// forget drops fn's entry.
func (t *table[S]) forget(fn string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.m.Load()
	if old == nil {
		return
	}
	if _, ok := (*old)[fn]; !ok {
		return
	}
	m := maps.Clone(*old)
	delete(m, fn)
	t.m.Store(&m)
}
