// Package schedule runs scheduled rules, EventBridge's rules with a schedule
// expression: rate(…) or cron(…) in AWS's syntax (expr.go, cron.go), each
// with up to five targets — Lambda functions, invoked asynchronously through
// the invoke front door, and state machines, started through a Starter once
// one is set. A target receives EventBridge's "Scheduled Event" (event.go) or
// its constant Input.
//
// Storage. Rules live in the KV bucket "events_rules", one key per rule and
// one per rule's fire cursor, so the API and the scheduler never write the
// same key:
//
//	rules.<name>  JSON Rule (name, expression, time zone, state, targets, and
//	              the anchor and since times below)
//	fired.<name>  JSON {"through": T, "lastFire": T}: every occurrence at or
//	              before through has been handled (fired or skipped)
//
// A "." in a rule name is written "=2E" in keys (KV keys use "." as a
// separator; rule names cannot contain "="). Reads are served from memory,
// loaded at Open; writes go to KV first (compare-and-set on the revision),
// then to memory. This node is the only writer of its data dir.
//
// Time. Occurrences have minute precision. A cron rule's fields are read in
// its time zone (UTC for EventBridge rules; an IANA name for the Go API, as
// EventBridge Scheduler's ScheduleExpressionTimezone); a rate rule fires at
// Anchor + k·rate, k ≥ 1, where Anchor is the minute its expression was set
// (AWS: "a rate expression starts when you create the rule"). Only
// occurrences after Since fire: Since is when the rule was created, its
// expression or time zone changed, or it was enabled again — a disabled
// period is not caught up.
//
// Missed fires. When the scheduler finds occurrences of a rule in
// (max(Since, through), now] — after a restart, or a late wake-up — it fires
// only the most recent of them, and only if it is at most Config.Grace old
// (default 5 minutes); every other one is skipped and logged. Then through
// becomes now. So a server that was down for an hour fires each rule at most
// once on its return, and only a fire it missed by less than the grace.
//
// Failures. A target that fails with a system error (the async queue did
// not answer) makes the whole occurrence retry, 1 s, 2 s, 4 s … 30 s apart,
// for as long as the missed-fire rule still allows it; targets that had
// succeeded are sent again with the same ids and dropped as duplicates. A
// client error (the function does not exist) is logged and not retried. An
// enabled rule without targets passes its occurrences silently.
//
// Exactly once per occurrence. A fire invokes the targets first and then
// persists through. Each target's invocation carries an id derived from the
// rule, the scheduled time and the target (the Lambda request id, which the
// async queue uses as its JetStream deduplication id, or the execution
// name). A crash between the two steps makes the restarted scheduler fire
// the same occurrence again — only within the grace, with the same ids, and
// the grace (≤ MaxGrace) is shorter than the async stream's 10-minute
// deduplication window, so the second publish is dropped. A restart
// therefore never delivers one scheduled time twice.
//
// Ownership. Run is the one goroutine that fires rules; it sleeps on a
// single timer set for the earliest due rule (a heap), and API changes wake
// it. All methods are safe for concurrent use.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Bucket is the KV bucket of rules and fire cursors.
const Bucket = "events_rules"

const (
	ruleKeys  = "rules."
	firedKeys = "fired."
)

// Grace bounds.
const (
	DefaultGrace = 5 * time.Minute
	// MaxGrace is the LAMBDA_ASYNC stream's deduplication window: a re-fire
	// after a crash must fall inside it to be dropped as a duplicate.
	MaxGrace = 10 * time.Minute
)

// Limits EventBridge applies.
const (
	MaxTargets     = 5    // per rule
	MaxInputLength = 8192 // a target's constant Input
)

// Config configures the service. The zero Config is the production default.
type Config struct {
	// Grace is how late the most recent missed occurrence may still fire;
	// zero means DefaultGrace, and it is capped at MaxGrace.
	Grace time.Duration
	// Clock is the source of time; nil is the system clock.
	Clock Clock
}

// Clock is the scheduler's source of time. Tests run the system clock inside
// a testing/synctest bubble, where time is virtual.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Invoker is the invoke front door (invoke.Service).
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (*invoke.Response, error)
}

// Starter starts state machine executions (the workflow service). name is
// derived from the rule and the scheduled time: starting the same name with
// the same input again must succeed without a second execution (as
// StartExecution does for a running one; an implementation should also treat
// ExecutionAlreadyExists as success). A *lambda.Error with a status below 500
// is a permanent failure of that fire; any other error is retried within the
// grace.
type Starter interface {
	StartExecution(ctx context.Context, stateMachineARN, name, input string) error
}

// Rule is a scheduled rule as stored.
type Rule struct {
	Name               string   `json:"name"`
	ScheduleExpression string   `json:"scheduleExpression"`
	Timezone           string   `json:"timezone,omitempty"` // IANA name; empty is UTC
	State              string   `json:"state"`              // ENABLED or DISABLED
	Description        string   `json:"description,omitempty"`
	RoleARN            string   `json:"roleArn,omitempty"`
	Targets            []Target `json:"targets,omitempty"`
	// Created is when the rule was first put.
	Created time.Time `json:"created"`
	// Anchor is the minute the expression was set; rate occurrences count from it.
	Anchor time.Time `json:"anchor"`
	// Since is when the rule was created, its expression or zone changed, or
	// it was enabled; no occurrence at or before it fires.
	Since time.Time `json:"since"`
}

// Target is one target of a rule.
type Target struct {
	ID      string `json:"id"`
	ARN     string `json:"arn"`
	Input   string `json:"input,omitempty"` // constant JSON sent instead of the Scheduled Event
	RoleARN string `json:"roleArn,omitempty"`
}

// Rule states.
const (
	Enabled  = "ENABLED"
	Disabled = "DISABLED"
)

// ARN returns the rule's ARN (on the default event bus).
func (r *Rule) ARN() string { return RuleARN(r.Name) }

// RuleARN returns the ARN of the rule named name.
func RuleARN(name string) string {
	return "arn:aws:events:" + lambda.Region + ":" + lambda.Account + ":rule/" + name
}

func (r *Rule) clone() Rule {
	c := *r
	c.Targets = slices.Clone(r.Targets)
	return c
}

// schedule returns the rule's parsed schedule.
func (r *Rule) schedule() (Schedule, error) {
	e, err := Parse(r.ScheduleExpression)
	if err != nil {
		return Schedule{}, err
	}
	loc, err := location(r.Timezone)
	if err != nil {
		return Schedule{}, err
	}
	return Schedule{Expr: e, Location: loc, Anchor: r.Anchor}, nil
}

// location loads an IANA time zone; empty is UTC.
func location(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if tz == "Local" || strings.HasPrefix(tz, "/") {
		return nil, fmt.Errorf("time zone %q: not an IANA time zone name", tz)
	}
	return time.LoadLocation(tz)
}

// Error codes (EventBridge exception names) of the errors this package returns.
const (
	CodeResourceNotFound       = "ResourceNotFoundException"
	CodeValidation             = "ValidationException"
	CodeLimitExceeded          = "LimitExceededException"
	CodeConcurrentModification = "ConcurrentModificationException"
)

// apiError returns a client error with an EventBridge exception name.
func apiError(code, format string, args ...any) *lambda.Error {
	return &lambda.Error{Code: code, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func ruleNotFound(name string) *lambda.Error {
	return apiError(CodeResourceNotFound, "Rule %s does not exist on EventBus default.", name)
}

// ValidName reports whether name is a valid rule name (also a valid target id).
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func keyName(name string) string { return strings.ReplaceAll(name, ".", "=2E") }

// Service stores rules and fires them.
type Service struct {
	cfg   Config
	log   *slog.Logger
	kv    jetstream.KeyValue
	inv   Invoker
	clock Clock
	sfn   Starter // set before Run; nil until workflows are wired

	wake chan struct{} // buffered 1: the earliest due time may have changed

	mu    sync.Mutex
	rules map[string]*entry // guarded by mu: by name
	due   dueHeap           // guarded by mu: enabled rules by due time
}

// entry is a rule's in-memory state.
type entry struct {
	rule  Rule     // replaced, never mutated
	rev   uint64   // KV revision of rules.<name>
	sched Schedule // parsed rule.ScheduleExpression and Timezone

	through  time.Time // the fire cursor (see the package comment)
	lastFire time.Time // the last occurrence fired

	retries int       // consecutive retryable failures of the pending fire
	retryAt time.Time // not before this while retrying

	dueAt time.Time // when Run handles the rule next; zero: not queued
	index int       // in the heap; -1 when not queued
}

// New returns the service; Open must be called before anything else.
func New(cfg Config, log *slog.Logger, kv jetstream.KeyValue, inv Invoker) *Service {
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	cfg.Grace = min(cfg.Grace, MaxGrace)
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	return &Service{cfg: cfg, log: log, kv: kv, inv: inv, clock: cfg.Clock,
		wake: make(chan struct{}, 1), rules: map[string]*entry{}}
}

// SetStarter sets the service that starts state machine executions. It must
// be called before Open; until it is, state machine targets are refused.
func (s *Service) SetStarter(st Starter) { s.sfn = st }

// Open loads the rules and their cursors and removes cursors whose rule is
// gone (left by a delete that raced a fire).
func (s *Service) Open(ctx context.Context) error {
	keys, err := s.kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("schedule: list keys: %w", err)
	}
	loaded := map[string]*entry{} // by fired key
	cursors := map[string]cursor{}
	for _, k := range keys {
		kve, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return fmt.Errorf("schedule: get %s: %w", k, err)
		}
		switch {
		case strings.HasPrefix(k, ruleKeys):
			var r Rule
			if err := json.Unmarshal(kve.Value(), &r); err != nil {
				return fmt.Errorf("schedule: decode %s: %w", k, err)
			}
			sch, err := r.schedule()
			if err != nil {
				return fmt.Errorf("schedule: rule %s: %w", r.Name, err)
			}
			loaded[firedKeys+keyName(r.Name)] = &entry{rule: r, rev: kve.Revision(), sched: sch, index: -1}
		case strings.HasPrefix(k, firedKeys):
			var c cursor
			if err := json.Unmarshal(kve.Value(), &c); err != nil {
				return fmt.Errorf("schedule: decode %s: %w", k, err)
			}
			cursors[k] = c
		}
	}
	for k, c := range cursors {
		e := loaded[k]
		if e == nil {
			if err := s.kv.Delete(ctx, k); err != nil {
				s.log.Warn("schedule: remove orphan cursor", "key", k, "err", err)
			}
			continue
		}
		e.through, e.lastFire = c.Through, c.LastFire
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range loaded {
		s.rules[e.rule.Name] = e
		s.rescheduleLocked(e)
	}
	return nil
}

// cursor is the value of a fired.<name> key.
type cursor struct {
	Through  time.Time `json:"through"`
	LastFire time.Time `json:"lastFire,omitzero"`
}
