// Package executions is the Step Functions service: state machines and
// their versions, and executions of them, durable on JetStream, running on
// the pure engine (package engine) with Lambda tasks invoked through the
// platform's front door (package lambdatask over a Lambda Invoker).
//
// Durability (Standard executions). StartExecution answers only after the
// execution's record is in KV. Every engine commit — the events produced
// since the previous one plus a snapshot, written before any task starts,
// before every wait and at the end — is one message on the history stream,
// published with the expected last sequence of the execution's subject, so
// an execution that somehow ran twice could not commit past the other. At
// start (Open) every execution whose record says RUNNING is resumed from
// its last committed snapshot (engine.Resume): timers are re-armed and
// tasks that were scheduled but had not completed are started again (at
// least once; a Lambda task's request id is stable across attempts).
// Commits of many executions are pipelined (asynchronous publishes awaited
// concurrently), which is what batches them into few storage writes.
// SendTaskSuccess/Failure and StopExecution answer only once their effect
// is committed.
//
// Express executions run in memory with no history (StartSyncExecution,
// and StartExecution of an EXPRESS state machine); nothing of them is
// stored, as on AWS where DescribeExecution does not apply to them.
//
// Ownership: Run owns every execution goroutine; executions started before
// Run runs wait for it. Open must be called once before anything else.
// All methods are safe for concurrent use. This node owns every execution
// it stores: running several nodes on one JetStream would need leases.
package executions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
	"github.com/nimbus-dev/nimbus/internal/workflow/lambdatask"
)

// Config configures the service. Zero values are the documented defaults.
type Config struct {
	// Region and Account appear in ARNs; default lambda.Region and lambda.Account.
	Region, Account string
	// MaxEvents caps a Standard execution's history; default 25,000 (AWS's quota).
	MaxEvents int64
	// ExpressTimeout bounds an Express execution; default 5 minutes.
	ExpressTimeout time.Duration
	// Clock is the executions' time source; nil is the system clock.
	Clock engine.Clock
}

// Service is the Step Functions service.
type Service struct {
	cfg   Config
	log   *slog.Logger
	arns  arns
	js    jetstream.JetStream
	st    *store
	tasks engine.TaskRunner
	clock engine.Clock

	messenger Messenger // nil: the SQS and SNS integrations are off

	machines *cache[machineRecord]
	execs    *cache[execRecord] // summaries: Input and Output dropped
	byMach   map[string]map[string]bool

	mu      sync.Mutex
	live    map[string]*live // guarded by mu: running executions by ARN
	queue   []*live          // guarded by mu: waiting for Run
	defs    map[string]*asl.Definition
	defText map[string]string
	wake    chan struct{} // buffered 1: the queue has work

	watches []watch // opened by Open, followed by Run
}

// watch is a KV watch and how its updates apply.
type watch struct {
	w     jetstream.KeyWatcher
	apply func(jetstream.KeyValueEntry)
}

// New returns the service. inv runs Lambda tasks (see InvokeAdapter).
func New(cfg Config, log *slog.Logger, js jetstream.JetStream, inv lambdatask.Invoker) *Service {
	if cfg.Region == "" {
		cfg.Region = lambda.Region
	}
	if cfg.Account == "" {
		cfg.Account = lambda.Account
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = 25000
	}
	if cfg.ExpressTimeout == 0 {
		cfg.ExpressTimeout = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = engine.SystemClock{}
	}
	s := &Service{cfg: cfg, log: log, arns: arns{cfg.Region, cfg.Account}, js: js, clock: cfg.Clock,
		machines: newCache[machineRecord](), execs: newCache[execRecord](), byMach: map[string]map[string]bool{},
		live: map[string]*live{}, defs: map[string]*asl.Definition{}, defText: map[string]string{},
		wake: make(chan struct{}, 1)}
	s.execs.onStore = s.index
	s.tasks = &lambdatask.Runner{Invoker: inv, Next: nested{s}}
	return s
}

func (s *Service) now() time.Time { return s.clock.Now() }

// index keeps byMach current; called by the executions cache under its lock.
func (s *Service) index(k string, old, cur *execRecord) {
	if old != nil && (cur == nil || cur.Machine != old.Machine) {
		delete(s.byMach[old.Machine], k)
	}
	if cur != nil {
		m := s.byMach[cur.Machine]
		if m == nil {
			m = map[string]bool{}
			s.byMach[cur.Machine] = m
		}
		m[k] = true
	}
}

// trimRecord drops what the in-memory index does not need.
func trimRecord(r *execRecord) { r.Input, r.Output, r.Cause = "", nil, nil }

// Open creates or opens the buckets and the stream, loads state machines
// and executions, and prepares every running execution to resume (Run
// starts them).
func (s *Service) Open(ctx context.Context) error {
	st, err := openStore(ctx, s.js)
	if err != nil {
		return err
	}
	s.st = st
	if err := s.load(ctx, st.machines, func(u jetstream.KeyValueEntry) { s.machines.apply(u, nil) }); err != nil {
		return err
	}
	if err := s.load(ctx, st.execs, func(u jetstream.KeyValueEntry) { s.execs.apply(u, trimRecord) }); err != nil {
		return err
	}
	var running []string
	s.execs.each(func(k string, r *execRecord) {
		if r.Status == engine.StatusRunning && r.Type != asl.Express {
			running = append(running, k)
		}
	})
	for _, k := range running {
		if err := s.recover(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// load reads a bucket through a watch that Run keeps following.
func (s *Service) load(ctx context.Context, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("executions: watch %s: %w", kv.Bucket(), err)
	}
	for u := range w.Updates() {
		if u == nil {
			s.watches = append(s.watches, watch{w, apply})
			return nil
		}
		apply(u)
	}
	return fmt.Errorf("executions: watch %s closed during load", kv.Bucket())
}

// recover prepares the execution stored under k to continue: from its last
// snapshot, from scratch if it never committed, or not at all if it ended
// (then its record is repaired).
func (s *Service) recover(ctx context.Context, k string) error {
	rec, _, err := s.st.execution(ctx, k)
	if err != nil {
		return err
	}
	last, seq, err := s.st.lastCommit(ctx, k)
	if err != nil {
		return err
	}
	if last != nil && last.Snapshot == nil {
		// It ended after its final commit but before its record said so.
		if err := closeFromEvents(rec, last.Events); err != nil {
			return err
		}
		s.log.Info("repaired the record of an ended execution", "execution", rec.ARN, "status", rec.Status)
		return s.saveRecord(ctx, rec)
	}
	def, err := s.compiled(ctx, rec.Definition, rec.Type)
	if err != nil {
		return err
	}
	cfg := s.engineConfig(rec, def)
	j := &journal{s: s, subject: historySubject + k, lastSeq: seq}
	var x *engine.Execution
	if last == nil {
		x, err = engine.New(cfg, s.tasks, s.clock, j)
	} else {
		if last.Snapshot.Input.V == nil { // stored without the execution input
			if last.Snapshot.Input.V, err = jsonv.ParseString(rec.Input); err != nil {
				return fmt.Errorf("executions: resume %s: input: %w", rec.ARN, err)
			}
		}
		x, err = engine.Resume(cfg, last.Snapshot, s.tasks, s.clock, j)
	}
	if err != nil {
		return fmt.Errorf("executions: resume %s: %w", rec.ARN, err)
	}
	s.log.Info("resuming execution", "execution", rec.ARN, "committed_events", last != nil)
	s.enqueue(&live{rec: rec, x: x, j: j, done: make(chan struct{})})
	return nil
}

func (s *Service) engineConfig(rec *execRecord, def *asl.Definition) engine.Config {
	return engine.Config{
		Definition:       def,
		ExecutionARN:     rec.ARN,
		ExecutionName:    rec.Name,
		StateMachineARN:  s.arns.machine(rec.Machine),
		StateMachineName: rec.Machine,
		RoleARN:          rec.RoleARN,
		Region:           s.cfg.Region,
		Type:             rec.Type,
		Input:            json.RawMessage(rec.Input),
		MaxEvents:        s.cfg.MaxEvents,
		Logger:           s.log,
	}
}

// enqueue registers a prepared execution and hands it to Run.
func (s *Service) enqueue(l *live) {
	s.mu.Lock()
	if l.rec != nil {
		s.live[l.rec.ARN] = l
	}
	s.queue = append(s.queue, l)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run runs executions until ctx ends, and keeps the in-memory view of state
// machines and executions current with changes made by other nodes.
// Standard executions still running when ctx ends are left as they were
// last committed; Open resumes them next time.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, wt := range s.watches {
		wg.Go(func() {
			defer wt.w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case u, ok := <-wt.w.Updates():
					if !ok {
						return
					}
					if u != nil {
						wt.apply(u)
					}
				}
			}
		})
	}
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, l := range q {
			wg.Go(func() { s.execute(ctx, l) })
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// live is an execution this node runs.
type live struct {
	rec  *execRecord // nil for Express executions
	x    *engine.Execution
	j    *journal      // nil for Express executions
	done chan struct{} // closed when Run returned and the record is updated
	// res is how the execution ended (nil: stopped unfinished); set before done closes.
	res *engine.Result
}

// execute runs one execution to its end (or until ctx ends).
func (s *Service) execute(ctx context.Context, l *live) {
	if l.rec == nil { // Express
		runCtx, cancel := context.WithTimeout(ctx, s.cfg.ExpressTimeout)
		res, err := l.x.Run(runCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("express execution did not finish", "err", err)
		}
		l.res = res
		close(l.done)
		return
	}
	res, err := l.x.Run(ctx)
	switch {
	case err == nil:
		rec := *l.rec
		closeFromResult(&rec, res)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := s.saveRecord(wctx, &rec); err != nil {
			s.log.Error("execution ended but its record was not updated; repaired at next start", "execution", rec.ARN, "err", err)
		}
		cancel()
	case ctx.Err() == nil:
		// A storage failure: the execution stays RUNNING as of its last
		// commit and resumes at the next start.
		s.log.Error("execution stopped", "execution", l.rec.ARN, "err", err)
	}
	s.mu.Lock()
	if s.live[l.rec.ARN] == l {
		delete(s.live, l.rec.ARN)
	}
	s.mu.Unlock()
	l.res = res
	l.j.close()
	close(l.done)
}

// saveRecord writes an execution record and updates the index.
func (s *Service) saveRecord(ctx context.Context, r *execRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	rev, err := s.st.execs.Put(ctx, r.key(), b)
	if err != nil {
		return fmt.Errorf("executions: record %s: %w", r.ARN, err)
	}
	c := *r
	trimRecord(&c)
	s.execs.store(r.key(), rev, &c)
	return nil
}

// closeFromResult sets a record's outcome from the engine's result.
func closeFromResult(r *execRecord, res *engine.Result) {
	r.Status, r.Stop = res.Status, res.Stop
	if res.Status == engine.StatusSucceeded {
		out := string(res.Output)
		r.Output = &out
	}
	if res.HasError {
		r.Error = &res.Error
	}
	if res.HasCause {
		r.Cause = &res.Cause
	}
}

// closeFromEvents sets a record's outcome from its final history event.
func closeFromEvents(r *execRecord, events []json.RawMessage) error {
	if len(events) == 0 {
		return errors.New("executions: final commit without events")
	}
	var ev struct {
		Timestamp float64 `json:"timestamp"`
		Type      string  `json:"type"`
	}
	raw := events[len(events)-1]
	if err := json.Unmarshal(raw, &ev); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	_ = json.Unmarshal(raw, &all)
	var d struct {
		Output *string `json:"output"`
		Error  *string `json:"error"`
		Cause  *string `json:"cause"`
	}
	for k, v := range all {
		if strings.HasSuffix(k, "EventDetails") {
			_ = json.Unmarshal(v, &d)
		}
	}
	switch ev.Type {
	case engine.EvExecutionSucceeded:
		r.Status = engine.StatusSucceeded
	case engine.EvExecutionFailed:
		r.Status = engine.StatusFailed
	case engine.EvExecutionTimedOut:
		r.Status = engine.StatusTimedOut
	case engine.EvExecutionAborted:
		r.Status = engine.StatusAborted
	default:
		return fmt.Errorf("executions: final event %s is not an end", ev.Type)
	}
	r.Stop = time.UnixMilli(int64(ev.Timestamp*1000 + 0.5)).UTC()
	r.Output, r.Error, r.Cause = d.Output, d.Error, d.Cause
	return nil
}

// liveFor returns the running execution with that ARN.
func (s *Service) liveFor(arn string) (*live, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.live[arn]
	return l, ok
}
