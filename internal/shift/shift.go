// Package shift moves an alias's traffic from one function version to
// another step by step (SAM's DeploymentPreference: canary, linear, all at
// once), and rolls back on its own when the new version fails.
//
// A deploy that publishes a new version for an alias with a gradual
// preference calls Start instead of moving the alias. The Shifter then:
//
//  1. runs the PreTraffic hook function, if any, while the alias still
//     sends nothing to the new version. The hook succeeds when the function
//     returns without a function error (a plain invoke: CodeDeploy's
//     PutLifecycleEventHookExecutionStatus is not needed and not offered);
//     any failure rolls back.
//  2. sets the alias's RoutingConfig to {new: weight} for each step (canary:
//     Percent, then 100 %; linear: Percent more each step), one Interval
//     apart; at 100 % the alias points at the new version with no routing.
//  3. runs the PostTraffic hook, if any; a failure rolls back.
//
// Rollback rule: during each interval (from the step that set the current
// weight), once the new version has finished at least MinInvocations
// invocations, if its function-error rate (errors/invocations, counted by
// the invoke service per version) exceeds the old version's rate over the
// same interval by more than ErrorThreshold (an old version without
// invocations counts as 0 %), the alias goes back to the old version with
// no routing, at once. Counts are per process: after a restart the current
// interval is observed again from the restart before the next step.
//
// Records are durable (Store; KV bucket "nimbus_deployments"), one per
// alias, kept after they finish so the last outcome can be read; a Shifter
// started on the same store resumes every unfinished deployment, re-running
// a hook that was interrupted (hooks run at least once). A Start for an
// alias whose deployment has not finished supersedes it (the new one starts
// from the alias's version; the superseded target gets no more traffic),
// except that repeating the same Start is a no-op.
//
// Time comes from Config.Now, and Step does all work that is due at that
// instant, so tests drive a Shifter with a virtual clock; Run calls Step
// every Config.Tick. Start and Step's state changes are serialized by one
// mutex; hooks run outside it, so a slow hook never blocks a deploy.
package shift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Config configures a Shifter; zero values are the documented defaults.
type Config struct {
	// Tick is how often Run looks at deployments; zero means one second.
	Tick time.Duration
	// ErrorThreshold is how much higher (0-1) the new version's error rate
	// may be than the old one's; zero means 0.1 (ten percentage points).
	ErrorThreshold float64
	// MinInvocations is how many invocations of the new version an interval
	// needs before its error rate is judged; zero means 10.
	MinInvocations uint64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Aliases reads and moves aliases.
type Aliases interface {
	// Alias returns the version an alias points at; a missing function or
	// alias is a *lambda.Error of kind NotFound.
	Alias(function, alias string) (version string, err error)
	// SetAlias points an alias at version, sending weights[v] of its
	// traffic to version v (nil: none).
	SetAlias(ctx context.Context, function, alias, version string, weights map[string]float64) error
}

// Hooks runs lifecycle hook functions.
type Hooks interface {
	// RunHook invokes function synchronously with payload; it returns an
	// error if the invoke failed or the function returned a function error.
	RunHook(ctx context.Context, function string, payload []byte) error
}

// Stats counts invocations per function version.
type Stats interface {
	// VersionStats returns monotonic counts of finished invocations of a
	// version and of those that ended in a function error.
	VersionStats(function, version string) (invocations, errors uint64)
}

// Shifter runs traffic shifts. It is safe for concurrent use.
type Shifter struct {
	cfg     Config
	log     *slog.Logger
	store   Store
	aliases Aliases
	hooks   Hooks
	stats   Stats
	wake    chan struct{} // buffered 1: Start wakes Run

	mu        sync.Mutex
	baselines map[string]baseline // by key; guarded by mu
}

// baseline is the counters when the current interval began.
type baseline struct {
	id              string
	step            int
	since           time.Time
	fromInv, fromEr uint64
	toInv, toEr     uint64
}

// New returns a Shifter over store.
func New(cfg Config, log *slog.Logger, store Store, aliases Aliases, hooks Hooks, stats Stats) *Shifter {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.ErrorThreshold <= 0 {
		cfg.ErrorThreshold = 0.1
	}
	if cfg.MinInvocations == 0 {
		cfg.MinInvocations = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Shifter{cfg: cfg, log: log, store: store, aliases: aliases, hooks: hooks, stats: stats,
		wake: make(chan struct{}, 1), baselines: map[string]baseline{}}
}

// Start begins a deployment (see the package comment). It returns the
// record and whether it is new (false: the same deployment was running).
func (s *Shifter) Start(ctx context.Context, spec Spec) (*Deployment, bool, error) {
	if err := spec.check(); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.aliases.Alias(spec.Function, spec.Alias)
	if err != nil {
		return nil, false, err
	}
	prev, err := s.store.Get(ctx, spec.Function, spec.Alias)
	if err != nil {
		return nil, false, err
	}
	running := prev != nil && !prev.Status.Done()
	if running && prev.To == spec.To && (spec.From == "" || spec.From == prev.From) {
		return s.withHealth(prev), false, nil
	}
	if spec.From == "" {
		spec.From = cur
	}
	if spec.From == spec.To {
		return nil, false, lambda.InvalidParameter("alias %s already points at version %s", spec.Alias, spec.To)
	}
	now := s.cfg.Now()
	d := &Deployment{ID: "d-" + lambda.NewHexID(8), Spec: spec, StartedAt: now}
	s.note(d, now, "deployment %s started: %s from version %s to %s (%s)", d.ID, d.Alias, d.From, d.To, describe(&d.Spec))
	if running {
		s.note(d, now, "superseded deployment %s (version %s at %s)", prev.ID, prev.To, percent(prev.Weight))
	}
	if spec.PreTraffic != "" {
		d.Status = PreTraffic
		// No traffic on the new version (nor on a superseded one) before the hook.
		if err := s.aliases.SetAlias(ctx, d.Function, d.Alias, d.From, nil); err != nil {
			return nil, false, err
		}
	} else if err := s.advance(ctx, d, now); err != nil {
		return nil, false, err
	}
	if err := s.store.Put(ctx, d); err != nil {
		return nil, false, err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return d, true, nil
}

// Get returns an alias's last deployment, or nil.
func (s *Shifter) Get(ctx context.Context, function, alias string) (*Deployment, error) {
	d, err := s.store.Get(ctx, function, alias)
	if d == nil || err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.withHealth(d), nil
}

// List returns every alias's last deployment.
func (s *Shifter) List(ctx context.Context) ([]*Deployment, error) {
	list, err := s.store.List(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range list {
		list[i] = s.withHealth(d)
	}
	slices.SortFunc(list, compare)
	return list, nil
}

// Run calls Step every Tick (and soon after each Start) until ctx ends.
func (s *Shifter) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("deployments: step failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// hookRun is a hook due to run.
type hookRun struct {
	fn, alias, id string
	status        Status
	function      string
	payload       []byte
}

// Step does everything due now: it judges each shifting deployment's
// interval, rolls back or raises the weight, and runs due hooks.
func (s *Shifter) Step(ctx context.Context) error {
	var hooks []hookRun
	var errs []error
	// Read the records under mu: a record read before a concurrent Start
	// superseded it would otherwise be judged, and stored again, over the new one.
	s.mu.Lock()
	list, err := s.store.List(ctx)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	for _, d := range list {
		switch d.Status {
		case PreTraffic, PostTraffic:
			hooks = append(hooks, hookFor(d))
		case Shifting:
			errs = append(errs, s.judge(ctx, d))
		}
	}
	s.mu.Unlock()
	for _, h := range hooks {
		herr := s.hooks.RunHook(ctx, h.function, h.payload)
		if ctx.Err() != nil {
			break // the hook runs again after the restart
		}
		errs = append(errs, s.hookDone(ctx, h, herr))
	}
	return errors.Join(errs...)
}

func hookFor(d *Deployment) hookRun {
	h := hookRun{fn: d.Function, alias: d.Alias, id: d.ID, status: d.Status, function: d.PreTraffic}
	suffix := "-pre"
	if d.Status == PostTraffic {
		h.function, suffix = d.PostTraffic, "-post"
	}
	// The payload CodeDeploy sends its hooks.
	h.payload, _ = json.Marshal(map[string]string{"DeploymentId": d.ID, "LifecycleEventHookExecutionId": d.ID + suffix})
	return h
}

// hookDone applies a hook's outcome, unless the deployment moved on meanwhile.
func (s *Shifter) hookDone(ctx context.Context, h hookRun, herr error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.store.Get(ctx, h.fn, h.alias)
	if err != nil {
		return err
	}
	if d == nil || d.ID != h.id || d.Status != h.status {
		return nil // superseded while the hook ran
	}
	now := s.cfg.Now()
	switch {
	case herr != nil:
		return s.rollback(ctx, d, now, string(h.status)+" hook "+h.function+" failed: "+herr.Error())
	case h.status == PreTraffic:
		s.note(d, now, "PreTraffic hook %s succeeded", h.function)
		if err := s.advance(ctx, d, now); err != nil {
			return s.stopIfGone(ctx, d, now, err)
		}
	default:
		s.note(d, now, "PostTraffic hook %s succeeded", h.function)
		d.Status = Succeeded
		s.note(d, now, "deployment %s succeeded: %s points at version %s", d.ID, d.Alias, d.To)
	}
	return s.store.Put(ctx, d)
}

// judge applies the rollback rule to a shifting deployment's current
// interval and raises the weight when the interval is over. Called with mu held.
func (s *Shifter) judge(ctx context.Context, d *Deployment) error {
	now := s.cfg.Now()
	b, ok := s.baselines[d.key()]
	if !ok || b.id != d.ID || b.step != d.Step {
		// First sight in this process (a restart): observe a whole interval again.
		s.baselines[d.key()] = s.baseline(d, now)
		if !now.Before(d.NextStepAt) {
			d.NextStepAt = now.Add(d.Interval())
			s.note(d, now, "resumed at %s; observing the new version until %s", percent(d.Weight), d.NextStepAt.Format(time.RFC3339))
			return s.store.Put(ctx, d)
		}
		return nil
	}
	h := s.health(d, b)
	if h.ToInvocations >= s.cfg.MinInvocations {
		to := float64(h.ToErrors) / float64(h.ToInvocations)
		from := 0.0
		if h.FromInvocations > 0 {
			from = float64(h.FromErrors) / float64(h.FromInvocations)
		}
		if to-from > s.cfg.ErrorThreshold {
			return s.rollback(ctx, d, now, fmt.Sprintf("version %s failed %d of %d invocations (%.0f%%) against %d of %d (%.0f%%) for version %s since %s",
				d.To, h.ToErrors, h.ToInvocations, 100*to, h.FromErrors, h.FromInvocations, 100*from, d.From, b.since.Format(time.RFC3339)))
		}
	}
	if now.Before(d.NextStepAt) {
		return nil
	}
	if err := s.advance(ctx, d, now); err != nil {
		return s.stopIfGone(ctx, d, now, err)
	}
	return s.store.Put(ctx, d)
}

// advance applies the next weight. Called with mu held (or on a record
// nobody else sees yet); the caller stores d.
func (s *Shifter) advance(ctx context.Context, d *Deployment, now time.Time) error {
	w := d.weight(d.Step)
	if w >= 1 {
		if err := s.aliases.SetAlias(ctx, d.Function, d.Alias, d.To, nil); err != nil {
			return err
		}
		d.Step++
		d.Weight, d.NextStepAt = 1, time.Time{}
		delete(s.baselines, d.key())
		if d.PostTraffic != "" {
			d.Status = PostTraffic
			s.note(d, now, "%s points at version %s; PostTraffic hook %s next", d.Alias, d.To, d.PostTraffic)
			return nil
		}
		d.Status = Succeeded
		s.note(d, now, "deployment %s succeeded: %s points at version %s", d.ID, d.Alias, d.To)
		return nil
	}
	if err := s.aliases.SetAlias(ctx, d.Function, d.Alias, d.From, map[string]float64{d.To: w}); err != nil {
		return err
	}
	d.Step++
	d.Status, d.Weight, d.NextStepAt = Shifting, w, now.Add(d.Interval())
	s.baselines[d.key()] = s.baseline(d, now)
	s.note(d, now, "%s sends %s to version %s until %s", d.Alias, percent(w), d.To, d.NextStepAt.Format(time.RFC3339))
	return nil
}

// rollback points the alias at the old version again. Called with mu held.
func (s *Shifter) rollback(ctx context.Context, d *Deployment, now time.Time, reason string) error {
	if err := s.aliases.SetAlias(ctx, d.Function, d.Alias, d.From, nil); err != nil {
		return s.stopIfGone(ctx, d, now, err)
	}
	delete(s.baselines, d.key())
	d.Status, d.Weight, d.NextStepAt, d.Reason = RolledBack, 0, time.Time{}, reason
	s.note(d, now, "deployment %s rolled back: %s points at version %s again: %s", d.ID, d.Alias, d.From, reason)
	return s.store.Put(ctx, d)
}

// stopIfGone ends a deployment whose function or alias was deleted; other
// errors are returned (and the step retried on the next tick).
func (s *Shifter) stopIfGone(ctx context.Context, d *Deployment, now time.Time, err error) error {
	if e, ok := lambda.AsError(err); !ok || e.Status != http.StatusNotFound {
		return err
	}
	delete(s.baselines, d.key())
	d.Status, d.NextStepAt, d.Reason = Stopped, time.Time{}, err.Error()
	s.note(d, now, "deployment %s stopped: %v", d.ID, err)
	return s.store.Put(ctx, d)
}

func (s *Shifter) baseline(d *Deployment, now time.Time) baseline {
	b := baseline{id: d.ID, step: d.Step, since: now}
	b.fromInv, b.fromEr = s.stats.VersionStats(d.Function, d.From)
	b.toInv, b.toEr = s.stats.VersionStats(d.Function, d.To)
	return b
}

func (s *Shifter) health(d *Deployment, b baseline) Health {
	fi, fe := s.stats.VersionStats(d.Function, d.From)
	ti, te := s.stats.VersionStats(d.Function, d.To)
	return Health{Since: b.since, FromInvocations: fi - b.fromInv, FromErrors: fe - b.fromEr, ToInvocations: ti - b.toInv, ToErrors: te - b.toEr}
}

// withHealth adds the current interval's counts to a shifting record.
// Called with mu held.
func (s *Shifter) withHealth(d *Deployment) *Deployment {
	if b, ok := s.baselines[d.key()]; ok && d.Status == Shifting && b.id == d.ID && b.step == d.Step {
		h := s.health(d, b)
		d.Health = &h
	}
	return d
}

// note records an event on d and logs it.
func (s *Shifter) note(d *Deployment, now time.Time, format string, args ...any) {
	msg := d.event(now, format, args...)
	s.log.Info("deployment: "+msg, "function", d.Function, "alias", d.Alias, "deployment", d.ID)
}

func percent(w float64) string { return fmt.Sprintf("%g%%", 100*w) }

func describe(s *Spec) string {
	what := s.Type
	if what == "" {
		what = s.Kind
		if s.Kind != AllAtOnce {
			what = fmt.Sprintf("%s %d%% every %s", s.Kind, s.Percent, s.Interval())
		}
	}
	if s.Type != "" && s.IntervalSeconds > 0 {
		what += fmt.Sprintf(", interval %s", s.Interval())
	}
	if s.PreTraffic != "" {
		what += ", PreTraffic " + s.PreTraffic
	}
	if s.PostTraffic != "" {
		what += ", PostTraffic " + s.PostTraffic
	}
	return what
}
