package shift

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// memStore is a Store in memory.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStore) Get(_ context.Context, fn, alias string) (*Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[key(fn, alias)]; ok {
		return decode(b)
	}
	return nil, nil
}

func (s *memStore) Put(_ context.Context, d *Deployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	saved := *d
	saved.Health = nil
	b, err := json.Marshal(&saved)
	s.m[d.key()] = b
	return err
}

func (s *memStore) List(ctx context.Context) ([]*Deployment, error) {
	s.mu.Lock()
	keys := slices.Sorted(maps.Keys(s.m))
	s.mu.Unlock()
	var out []*Deployment
	for _, k := range keys {
		fn, alias, _ := strings.Cut(k, ".")
		d, err := s.Get(ctx, fn, alias)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// aliasState is an alias as the fake holds it.
type aliasState struct {
	version string
	weights map[string]float64
}

// world is a fake function "fn" with alias "live": aliases, hooks, counts.
type world struct {
	mu      sync.Mutex
	aliases map[string]aliasState // by alias name
	history []aliasState          // every SetAlias
	hookErr map[string]error      // by hook function
	hooks   []string              // hook function and payload, per run
	counts  map[string][2]uint64  // by version: invocations, errors
}

func newWorld() *world {
	return &world{aliases: map[string]aliasState{"live": {version: "1"}}, hookErr: map[string]error{}, counts: map[string][2]uint64{}}
}

func (w *world) Alias(fn, alias string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.aliases[alias]
	if fn != "fn" || !ok {
		return "", lambda.NotFound("Cannot find alias arn: %s", lambda.QualifiedARN(fn, alias))
	}
	return a.version, nil
}

func (w *world) SetAlias(_ context.Context, fn, alias, version string, weights map[string]float64) error {
	if _, err := w.Alias(fn, alias); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.aliases[alias] = aliasState{version, weights}
	w.history = append(w.history, aliasState{version, weights})
	return nil
}

func (w *world) RunHook(_ context.Context, fn string, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks = append(w.hooks, fn+" "+string(payload))
	return w.hookErr[fn]
}

func (w *world) VersionStats(fn, version string) (uint64, uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.counts[version]
	return c[0], c[1]
}

// invoked adds n invocations of version, failed of them failing.
func (w *world) invoked(version string, n, failed uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.counts[version]
	w.counts[version] = [2]uint64{c[0] + n, c[1] + failed}
}

func (w *world) alias() aliasState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.aliases["live"]
}

// clock is a virtual clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

type rig struct {
	t     *testing.T
	w     *world
	clk   *clock
	store *memStore
	s     *Shifter
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, w: newWorld(), clk: &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, store: &memStore{m: map[string][]byte{}}}
	r.s = r.shifter()
	return r
}

func (r *rig) shifter() *Shifter {
	return New(Config{Now: r.clk.now}, slog.New(slog.NewTextHandler(io.Discard, nil)), r.store, r.w, r.w, r.w)
}

func (r *rig) start(spec Spec) *Deployment {
	r.t.Helper()
	spec.Function, spec.Alias = "fn", "live"
	d, _, err := r.s.Start(r.t.Context(), spec)
	if err != nil {
		r.t.Fatalf("Start(%+v): %v", spec, err)
	}
	return d
}

// step advances the clock by d and runs a Step.
func (r *rig) step(d time.Duration) *Deployment {
	r.t.Helper()
	r.clk.advance(d)
	if err := r.s.Step(r.t.Context()); err != nil {
		r.t.Fatalf("Step: %v", err)
	}
	got, err := r.s.Get(r.t.Context(), "fn", "live")
	if err != nil || got == nil {
		r.t.Fatalf("Get = %v, %v", got, err)
	}
	return got
}

func (r *rig) wantAlias(version string, weights map[string]float64) {
	r.t.Helper()
	if got := r.w.alias(); got.version != version || !maps.Equal(got.weights, weights) {
		r.t.Fatalf("alias = %s %v, want %s %v", got.version, got.weights, version, weights)
	}
}

func TestCanaryReachesNewVersion(t *testing.T) {
	r := newRig(t)
	d := r.start(Spec{To: "2", Kind: Canary, Percent: 10, IntervalMinutes: 5})
	if d.Status != Shifting || d.From != "1" {
		t.Fatalf("after Start: status %s from %s, want Shifting from 1", d.Status, d.From)
	}
	r.wantAlias("1", map[string]float64{"2": 0.1})
	r.w.invoked("1", 90, 1)
	r.w.invoked("2", 10, 0)
	if d := r.step(4 * time.Minute); d.Status != Shifting || d.Health == nil || d.Health.ToInvocations != 10 {
		t.Fatalf("after 4m: %+v, want Shifting with 10 invocations of version 2", d)
	}
	r.wantAlias("1", map[string]float64{"2": 0.1})
	if d := r.step(time.Minute); d.Status != Succeeded || d.Weight != 1 {
		t.Fatalf("after 5m: status %s weight %g, want Succeeded 1", d.Status, d.Weight)
	}
	r.wantAlias("2", nil)
}

func TestLinearSteps(t *testing.T) {
	r := newRig(t)
	r.start(Spec{To: "2", Kind: Linear, Percent: 30, IntervalMinutes: 1})
	var seen []float64
	for range 5 {
		seen = append(seen, r.w.alias().weights["2"])
		r.step(time.Minute)
	}
	if want := []float64{0.3, 0.6, 0.9, 0, 0}; !slices.Equal(seen, want) {
		t.Fatalf("weights = %v, want %v", seen, want)
	}
	r.wantAlias("2", nil)
}

func TestRollbackOnErrorRate(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		oldN, oldE, newN, nE uint64
		rollback             bool
	}{
		{"failing new version", 90, 0, 10, 5, true},
		{"too few invocations", 90, 0, 9, 9, false},
		{"as bad as the old one", 90, 45, 10, 5, false},
		{"within the threshold", 100, 0, 10, 1, false},
		{"no old invocations", 0, 0, 10, 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.start(Spec{To: "2", Kind: Linear, Percent: 10, IntervalMinutes: 10})
			r.w.invoked("1", tt.oldN, tt.oldE)
			r.w.invoked("2", tt.newN, tt.nE)
			d := r.step(time.Second)
			if got := d.Status == RolledBack; got != tt.rollback {
				t.Fatalf("status %s (%s), want rolled back: %v", d.Status, d.Reason, tt.rollback)
			}
			if tt.rollback {
				r.wantAlias("1", nil)
				if !strings.Contains(d.Reason, "version 2 failed") {
					t.Errorf("reason %q does not say version 2 failed", d.Reason)
				}
			}
		})
	}
}

// An interval's judgement starts from the step that began it: errors before
// it do not count.
func TestErrorsCountPerInterval(t *testing.T) {
	r := newRig(t)
	r.w.invoked("2", 100, 100) // before the deployment
	r.start(Spec{To: "2", Kind: Linear, Percent: 50, IntervalMinutes: 1})
	if d := r.step(time.Second); d.Status != Shifting {
		t.Fatalf("status %s (%s), want Shifting", d.Status, d.Reason)
	}
	r.w.invoked("2", 10, 0)
	r.step(time.Minute) // to 100 %
	r.wantAlias("2", nil)
}

func TestPreTrafficHook(t *testing.T) {
	r := newRig(t)
	r.w.hookErr["badhook"] = errors.New("Unhandled: boom")
	r.w.aliases["live"] = aliasState{"1", map[string]float64{"5": 0.2}} // a superseded target
	d := r.start(Spec{To: "2", Kind: Canary, Percent: 10, IntervalMinutes: 5, PreTraffic: "badhook"})
	if d.Status != PreTraffic {
		t.Fatalf("status %s, want PreTraffic", d.Status)
	}
	r.wantAlias("1", nil)
	d = r.step(time.Second)
	if d.Status != RolledBack || !strings.Contains(d.Reason, "PreTraffic hook badhook failed") {
		t.Fatalf("status %s reason %q, want RolledBack by the hook", d.Status, d.Reason)
	}
	for _, a := range r.w.history {
		if len(a.weights) > 0 || a.version != "1" {
			t.Fatalf("the alias was set to %v before the hook passed", a)
		}
	}
	if len(r.w.hooks) != 1 || !strings.Contains(r.w.hooks[0], `"DeploymentId":"`+d.ID+`"`) {
		t.Fatalf("hook runs %q, want one with the deployment id", r.w.hooks)
	}

	r = newRig(t)
	r.start(Spec{To: "2", Kind: Canary, Percent: 10, IntervalMinutes: 5, PreTraffic: "goodhook", PostTraffic: "badhook"})
	r.w.hookErr["badhook"] = errors.New("Unhandled: boom")
	if d := r.step(time.Second); d.Status != Shifting {
		t.Fatalf("after a good PreTraffic hook: %s, want Shifting", d.Status)
	}
	r.wantAlias("1", map[string]float64{"2": 0.1})
	if d := r.step(5 * time.Minute); d.Status != PostTraffic {
		t.Fatalf("at 100%%: %s, want PostTraffic", d.Status)
	}
	if d := r.step(time.Second); d.Status != RolledBack {
		t.Fatalf("after a failing PostTraffic hook: %s, want RolledBack", d.Status)
	}
	r.wantAlias("1", nil)
}

func TestSupersede(t *testing.T) {
	r := newRig(t)
	first := r.start(Spec{To: "2", Kind: Linear, Percent: 10, IntervalMinutes: 1})
	r.step(time.Minute)
	r.wantAlias("1", map[string]float64{"2": 0.2})
	again, isNew, err := r.s.Start(t.Context(), Spec{Function: "fn", Alias: "live", To: "2", Kind: Linear, Percent: 10, IntervalMinutes: 1})
	if err != nil || isNew || again.ID != first.ID {
		t.Fatalf("repeated Start = %s new=%v err=%v, want the running %s", again.ID, isNew, err, first.ID)
	}
	second := r.start(Spec{To: "3", Kind: Canary, Percent: 25, IntervalMinutes: 1})
	if second.ID == first.ID || second.From != "1" || !strings.Contains(second.Events[1].Message, "superseded deployment "+first.ID) {
		t.Fatalf("superseding deployment = %+v", second)
	}
	r.wantAlias("1", map[string]float64{"3": 0.25})
	r.step(time.Minute)
	r.wantAlias("3", nil)
}

// A new Shifter on the same store (a restart) resumes, observing the
// interrupted interval again before the next step.
func TestResume(t *testing.T) {
	r := newRig(t)
	r.start(Spec{To: "2", Kind: Canary, Percent: 10, IntervalMinutes: 5})
	r.s = r.shifter()
	if d := r.step(10 * time.Minute); d.Status != Shifting || !strings.Contains(d.Events[len(d.Events)-1].Message, "resumed") {
		t.Fatalf("after the restart: %+v, want Shifting, resumed", d)
	}
	r.wantAlias("1", map[string]float64{"2": 0.1})
	if d := r.step(5 * time.Minute); d.Status != Succeeded {
		t.Fatalf("status %s, want Succeeded", d.Status)
	}
}

func TestStoppedWhenAliasGone(t *testing.T) {
	r := newRig(t)
	r.start(Spec{To: "2", Kind: Canary, Percent: 10, IntervalMinutes: 5})
	delete(r.w.aliases, "live")
	if d := r.step(5 * time.Minute); d.Status != Stopped || !strings.Contains(d.Reason, "ResourceNotFoundException") {
		t.Fatalf("status %s reason %q, want Stopped, not found", d.Status, d.Reason)
	}
}

func TestStartValidation(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Function: "fn", Alias: "live", To: "2", Kind: "sometimes"}, "kind must be"},
		{Spec{Function: "fn", Alias: "live", To: "2", Kind: Canary, Percent: 0, IntervalMinutes: 5}, "percent must be 1-99"},
		{Spec{Function: "fn", Alias: "live", To: "2", Kind: Linear, Percent: 10}, "needs intervalMinutes"},
		{Spec{Function: "fn", Alias: "live", To: "$LATEST", Kind: AllAtOnce}, "published version number"},
		{Spec{Function: "fn", Alias: "live", To: "1", Kind: AllAtOnce}, "already points at version 1"},
		{Spec{Function: "fn", Alias: "gone", To: "2", Kind: AllAtOnce}, "ResourceNotFoundException"},
		{Spec{Function: "fn", Alias: "1", To: "2", Kind: AllAtOnce}, "not an alias name"},
	} {
		r := newRig(t)
		_, _, err := r.s.Start(t.Context(), tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%+v) = %v, want an error containing %q", tt.spec, err, tt.want)
		}
		if _, ok := lambda.AsError(err); !ok {
			t.Errorf("Start(%+v) = %v, want a *lambda.Error", tt.spec, err)
		}
	}
}

// listHookStore calls afterList once, after a List has read the records.
type listHookStore struct {
	*memStore
	afterList func()
}

func (s *listHookStore) List(ctx context.Context) ([]*Deployment, error) {
	list, err := s.memStore.List(ctx)
	if f := s.afterList; f != nil {
		s.afterList = nil
		f()
	}
	return list, err
}

// TestStepDoesNotRestoreSupersededRecord: a Start that supersedes a
// deployment while a Step is reading the records must win; the Step must not
// act on (and store again) the record it read before.
func TestStepDoesNotRestoreSupersededRecord(t *testing.T) {
	r := newRig(t)
	hs := &listHookStore{memStore: r.store}
	r.s = New(Config{Now: r.clk.now}, slog.New(slog.NewTextHandler(io.Discard, nil)), hs, r.w, r.w, r.w)
	r.start(Spec{To: "2", Kind: Linear, Percent: 10, IntervalMinutes: 1})
	var second *Deployment
	started := make(chan error, 1)
	hs.afterList = func() {
		go func() {
			var err error
			second, _, err = r.s.Start(context.Background(), Spec{Function: "fn", Alias: "live", To: "3", Kind: Canary, Percent: 25, IntervalMinutes: 10})
			started <- err
		}()
		// Let the Start finish first if the Step does not keep it out.
		select {
		case err := <-started:
			started <- err
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.clk.advance(time.Minute)
	if err := r.s.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	got, err := r.s.Get(t.Context(), "fn", "live")
	if err != nil || got == nil {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if got.ID != second.ID {
		t.Fatalf("record is deployment %s (to %s), want the superseding %s", got.ID, got.To, second.ID)
	}
	r.wantAlias("1", map[string]float64{"3": 0.25})
}
