package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// memKV is a working in-memory KV bucket with the subset of
// jetstream.KeyValue the service uses, so that the service runs inside a
// testing/synctest bubble (a real JetStream client's timers would run on
// virtual time while its I/O does not). It outlives services, like a bucket
// outlives a server.
type memKV struct {
	jetstream.KeyValue // nil: other methods are not used

	mu      sync.Mutex
	rev     uint64
	data    map[string]memEntry                  // guarded by mu
	failPut func(key string, value []byte) error // guarded by mu: injected Put failures
}

type memEntry struct {
	key string
	val []byte
	rev uint64
}

func (e memEntry) Bucket() string                  { return Bucket }
func (e memEntry) Key() string                     { return e.key }
func (e memEntry) Value() []byte                   { return e.val }
func (e memEntry) Revision() uint64                { return e.rev }
func (e memEntry) Created() time.Time              { return time.Time{} }
func (e memEntry) Delta() uint64                   { return 0 }
func (e memEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

func newMemKV() *memKV { return &memKV{data: map[string]memEntry{}} }

func (m *memKV) setFailPut(f func(key string, value []byte) error) {
	m.mu.Lock()
	m.failPut = f
	m.mu.Unlock()
}

func (m *memKV) Get(_ context.Context, key string) (jetstream.KeyValueEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.data[key]
	if !ok {
		return nil, jetstream.ErrKeyNotFound
	}
	return e, nil
}

func (m *memKV) putLocked(key string, value []byte) uint64 {
	m.rev++
	m.data[key] = memEntry{key: key, val: slices.Clone(value), rev: m.rev}
	return m.rev
}

func (m *memKV) Put(_ context.Context, key string, value []byte) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut != nil {
		if err := m.failPut(key, value); err != nil {
			return 0, err
		}
	}
	return m.putLocked(key, value), nil
}

func (m *memKV) Create(_ context.Context, key string, value []byte, _ ...jetstream.KVCreateOpt) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[key]; ok {
		return 0, jetstream.ErrKeyExists
	}
	return m.putLocked(key, value), nil
}

func (m *memKV) Update(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.data[key]; !ok || e.rev != rev {
		return 0, fmt.Errorf("wrong last sequence: %w", jetstream.ErrKeyRevisionMismatch)
	}
	return m.putLocked(key, value), nil
}

func (m *memKV) Delete(_ context.Context, key string, _ ...jetstream.KVDeleteOpt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	return nil
}

func (m *memKV) Keys(context.Context, ...jetstream.WatchOpt) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.data) == 0 {
		return nil, jetstream.ErrNoKeysFound
	}
	var keys []string
	for k := range m.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

func (m *memKV) value(key string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[key].val
}

// recorder is an Invoker that records async invocations. Like the
// LAMBDA_ASYNC stream it drops an event whose request id it has already
// accepted, and counts the attempt.
type recorder struct {
	mu       sync.Mutex
	accepted []call             // guarded by mu
	attempts map[string]int     // guarded by mu: by request id
	fail     func(string) error // guarded by mu: by request id
}

type call struct {
	at      time.Time // when the invocation arrived
	req     invoke.Request
	payload map[string]any
}

func newRecorder() *recorder { return &recorder{attempts: map[string]int{}} }

func (r *recorder) Invoke(_ context.Context, req invoke.Request) (*invoke.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Type != lambda.Event {
		return nil, errors.New("recorder: schedules must invoke asynchronously")
	}
	r.attempts[req.RequestID]++
	if r.fail != nil {
		if err := r.fail(req.RequestID); err != nil {
			return nil, err
		}
	}
	if r.attempts[req.RequestID] > 1 && slices.ContainsFunc(r.accepted, func(c call) bool { return c.req.RequestID == req.RequestID }) {
		return &invoke.Response{Status: 202, RequestID: req.RequestID}, nil // a duplicate, dropped
	}
	var p map[string]any
	if err := json.Unmarshal(req.Payload, &p); err != nil {
		return nil, fmt.Errorf("recorder: payload is not a JSON object: %s", req.Payload)
	}
	r.accepted = append(r.accepted, call{at: time.Now(), req: req, payload: p})
	return &invoke.Response{Status: 202, RequestID: req.RequestID}, nil
}

func (r *recorder) setFail(f func(string) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

// calls returns the accepted invocations of function fn.
func (r *recorder) calls(fn string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.accepted {
		if strings.HasSuffix(c.req.FunctionName, ":function:"+fn) {
			out = append(out, c)
		}
	}
	return out
}

func (r *recorder) attemptsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[id]
}

func fnARN(name string) string { return lambda.FunctionARN(name) }

// running is a service whose Run goroutine the test owns.
type running struct {
	*Service
	stop func()
}

// start opens a service on kv and runs it until the test ends or stop is called.
func start(t *testing.T, kv jetstream.KeyValue, inv Invoker, cfg Config) *running {
	t.Helper()
	s := New(cfg, slog.New(slog.DiscardHandler), kv, inv)
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	r := &running{Service: s, stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(r.stop)
	return r
}

// rule puts an enabled rule with one Lambda target.
func (r *running) rule(t *testing.T, name, expr, fn string) {
	t.Helper()
	if _, err := r.PutRule(t.Context(), PutRuleInput{Name: name, ScheduleExpression: expr}); err != nil {
		t.Fatal(err)
	}
	failed, err := r.PutTargets(t.Context(), name, []Target{{ID: "t1", ARN: fnARN(fn)}})
	if err != nil || len(failed) > 0 {
		t.Fatalf("PutTargets: %v %v", failed, err)
	}
}

// eventTimes returns the scheduled times the calls carried.
func eventTimes(t *testing.T, calls []call) []string {
	t.Helper()
	var out []string
	for _, c := range calls {
		s, _ := c.payload["time"].(string)
		out = append(out, s)
	}
	return out
}
