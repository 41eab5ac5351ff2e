package schedule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// PutRuleInput is a PutRule request. Like AWS's PutRule it replaces the
// rule's settings (an omitted one is not kept) and keeps its targets.
type PutRuleInput struct {
	Name               string
	ScheduleExpression string
	Timezone           string // IANA name; empty is UTC
	State              string // ENABLED (the default) or DISABLED
	Description        string
	RoleARN            string
}

// PutRule creates or updates a rule.
func (s *Service) PutRule(ctx context.Context, in PutRuleInput) (Rule, error) {
	if !ValidName(in.Name) {
		return Rule{}, apiError(CodeValidation, "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", in.Name)
	}
	if in.ScheduleExpression == "" {
		return Rule{}, apiError(CodeValidation, "Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if len(in.ScheduleExpression) > 256 {
		return Rule{}, apiError(CodeValidation, "1 validation error detected: Value '%s' at 'scheduleExpression' failed to satisfy constraint: Member must have length less than or equal to 256", in.ScheduleExpression)
	}
	if _, err := Parse(in.ScheduleExpression); err != nil {
		return Rule{}, apiError(CodeValidation, "Parameter ScheduleExpression is not valid.")
	}
	if _, err := location(in.Timezone); err != nil {
		return Rule{}, apiError(CodeValidation, "Invalid time zone: %s", in.Timezone)
	}
	state := in.State
	switch state {
	case "":
		state = Enabled
	case Enabled, Disabled:
	default:
		return Rule{}, apiError(CodeValidation, "1 validation error detected: Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", in.State)
	}
	if len(in.Description) > 512 {
		return Rule{}, apiError(CodeValidation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 512")
	}
	now := s.clock.Now().UTC() // stored times are UTC
	return s.update(ctx, in.Name, func(r *Rule, exists bool) error {
		if !exists {
			*r = Rule{Name: in.Name, Created: now, Anchor: now.Truncate(time.Minute), Since: now}
		} else {
			if r.ScheduleExpression != in.ScheduleExpression || r.Timezone != in.Timezone {
				r.Anchor, r.Since = now.Truncate(time.Minute), now
			}
			if r.State == Disabled && state == Enabled {
				r.Since = now
			}
		}
		r.ScheduleExpression, r.Timezone, r.State = in.ScheduleExpression, in.Timezone, state
		r.Description, r.RoleARN = in.Description, in.RoleARN
		return nil
	})
}

// Rule returns the rule named name.
func (s *Service) Rule(name string) (Rule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.rules[name]
	if e == nil {
		return Rule{}, false
	}
	return e.rule.clone(), true
}

// Rules returns the rules whose names start with prefix, by name.
func (s *Service) Rules(prefix string) []Rule {
	s.mu.Lock()
	var out []Rule
	for name, e := range s.rules {
		if strings.HasPrefix(name, prefix) {
			out = append(out, e.rule.clone())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Rule) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// SetState enables or disables a rule. Enabling a disabled rule does not
// catch up the occurrences it missed while disabled.
func (s *Service) SetState(ctx context.Context, name, state string) error {
	now := s.clock.Now().UTC()
	_, err := s.update(ctx, name, func(r *Rule, exists bool) error {
		if !exists {
			return ruleNotFound(name)
		}
		if r.State == Disabled && state == Enabled {
			r.Since = now
		}
		r.State = state
		return nil
	})
	return err
}

// DeleteRule deletes a rule, which must have no targets (as on AWS). Deleting
// a rule that does not exist succeeds.
func (s *Service) DeleteRule(ctx context.Context, name string) error {
	for range 5 {
		s.mu.Lock()
		e := s.rules[name]
		var rev uint64
		var targets int
		if e != nil {
			rev, targets = e.rev, len(e.rule.Targets)
		}
		s.mu.Unlock()
		if e == nil {
			return nil
		}
		if targets > 0 {
			return apiError(CodeValidation, "Rule can't be deleted since it has targets.")
		}
		err := s.kv.Delete(ctx, ruleKeys+keyName(name), jetstream.LastRevision(rev))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			if err := s.reload(ctx, name); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("schedule: delete rule %s: %w", name, err)
		}
		if err := s.kv.Delete(ctx, firedKeys+keyName(name)); err != nil {
			s.log.Warn("schedule: delete cursor", "rule", name, "err", err) // removed at the next Open
		}
		s.mu.Lock()
		if cur := s.rules[name]; cur != nil && cur.rev == rev {
			delete(s.rules, name)
			s.unqueueLocked(cur)
		}
		s.mu.Unlock()
		s.poke()
		return nil
	}
	return apiError(CodeConcurrentModification, "Concurrent modification of rule %s; try again.", name)
}

// FailedEntry is a target that PutTargets or RemoveTargets did not apply.
type FailedEntry struct {
	TargetID     string
	ErrorCode    string
	ErrorMessage string
}

// PutTargets adds targets to a rule or replaces those with the same id.
// Targets the platform cannot deliver to (an unsupported service, a state
// machine before workflows are wired, an Input that is not JSON) are
// returned as failed entries; the others are applied.
func (s *Service) PutTargets(ctx context.Context, name string, targets []Target) ([]FailedEntry, error) {
	if len(targets) == 0 {
		return nil, apiError(CodeValidation, "1 validation error detected: Value '[]' at 'targets' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(targets) > 10 {
		return nil, apiError(CodeValidation, "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	var failed []FailedEntry
	var ok []Target
	for i, t := range targets {
		if !ValidName(t.ID) {
			return nil, apiError(CodeValidation, "1 validation error detected: Value '%s' at 'targets.%d.member.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", t.ID, i+1)
		}
		if t.ARN == "" || len(t.ARN) > 1600 {
			return nil, apiError(CodeValidation, "1 validation error detected: Value '%s' at 'targets.%d.member.arn' failed to satisfy constraint: Member must have length between 1 and 1600", t.ARN, i+1)
		}
		if msg := s.checkTarget(t); msg != "" {
			failed = append(failed, FailedEntry{TargetID: t.ID, ErrorCode: CodeValidation, ErrorMessage: msg})
			continue
		}
		ok = append(ok, t)
	}
	if len(ok) == 0 {
		if _, exists := s.Rule(name); !exists {
			return nil, ruleNotFound(name)
		}
		return failed, nil
	}
	_, err := s.update(ctx, name, func(r *Rule, exists bool) error {
		if !exists {
			return ruleNotFound(name)
		}
		for _, t := range ok {
			if i := slices.IndexFunc(r.Targets, func(c Target) bool { return c.ID == t.ID }); i >= 0 {
				r.Targets[i] = t
			} else {
				r.Targets = append(r.Targets, t)
			}
		}
		if len(r.Targets) > MaxTargets {
			return apiError(CodeLimitExceeded, "The requested resource exceeds the maximum number allowed.")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return failed, nil
}

// checkTarget returns why the platform cannot deliver to t, or "".
func (s *Service) checkTarget(t Target) string {
	if t.Input != "" {
		if len(t.Input) > MaxInputLength {
			return fmt.Sprintf("Input is longer than %d characters.", MaxInputLength)
		}
		if !json.Valid([]byte(t.Input)) {
			return "Parameter Input is not valid JSON."
		}
	}
	parts := strings.SplitN(t.ARN, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return "Parameter " + t.ARN + " is not valid. Reason: Provided Arn is not in correct format."
	}
	switch parts[2] {
	case "lambda":
		if _, _, err := lambda.ParseFunctionRef(t.ARN, ""); err != nil {
			return "Parameter " + t.ARN + " is not valid. Reason: not a Lambda function ARN."
		}
		return ""
	case "states":
		if !strings.HasPrefix(parts[5], "stateMachine:") {
			return "Parameter " + t.ARN + " is not valid. Reason: not a state machine ARN."
		}
		if s.sfn == nil {
			return "State machine targets are not supported yet by nimbus."
		}
		return ""
	}
	return "Targets of service " + parts[2] + " are not supported by nimbus (Lambda functions and state machines are)."
}

// RemoveTargets removes targets from a rule; ids it does not have are ignored.
func (s *Service) RemoveTargets(ctx context.Context, name string, ids []string) ([]FailedEntry, error) {
	if len(ids) == 0 || len(ids) > 100 {
		return nil, apiError(CodeValidation, "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and 100")
	}
	_, err := s.update(ctx, name, func(r *Rule, exists bool) error {
		if !exists {
			return ruleNotFound(name)
		}
		r.Targets = slices.DeleteFunc(r.Targets, func(t Target) bool { return slices.Contains(ids, t.ID) })
		return nil
	})
	return nil, err
}

// Targets returns a rule's targets.
func (s *Service) Targets(name string) ([]Target, error) {
	r, ok := s.Rule(name)
	if !ok {
		return nil, ruleNotFound(name)
	}
	return r.Targets, nil
}

// update applies change to the rule named name (a zero Rule and exists
// false if there is none) and stores the result with compare-and-set,
// retrying on a concurrent change.
func (s *Service) update(ctx context.Context, name string, change func(r *Rule, exists bool) error) (Rule, error) {
	key := ruleKeys + keyName(name)
	for range 5 {
		s.mu.Lock()
		var r Rule
		var rev uint64
		e := s.rules[name]
		if e != nil {
			r, rev = e.rule.clone(), e.rev
		}
		s.mu.Unlock()
		if err := change(&r, e != nil); err != nil {
			return Rule{}, err
		}
		sch, err := r.schedule()
		if err != nil {
			return Rule{}, fmt.Errorf("schedule: rule %s: %w", name, err)
		}
		b, err := json.Marshal(&r)
		if err != nil {
			return Rule{}, err
		}
		if e == nil {
			rev, err = s.kv.Create(ctx, key, b)
		} else {
			rev, err = s.kv.Update(ctx, key, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			if err := s.reload(ctx, name); err != nil {
				return Rule{}, err
			}
			continue
		}
		if err != nil {
			return Rule{}, fmt.Errorf("schedule: store rule %s: %w", name, err)
		}
		s.mu.Lock()
		s.applyLocked(r, rev, sch)
		s.mu.Unlock()
		s.poke()
		return r.clone(), nil
	}
	return Rule{}, apiError(CodeConcurrentModification, "Concurrent modification of rule %s; try again.", name)
}

// reload reads a rule from KV into memory after a compare-and-set conflict.
func (s *Service) reload(ctx context.Context, name string) error {
	kve, err := s.kv.Get(ctx, ruleKeys+keyName(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		s.mu.Lock()
		if e := s.rules[name]; e != nil {
			delete(s.rules, name)
			s.unqueueLocked(e)
		}
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("schedule: reload rule %s: %w", name, err)
	}
	var r Rule
	if err := json.Unmarshal(kve.Value(), &r); err != nil {
		return fmt.Errorf("schedule: decode rule %s: %w", name, err)
	}
	sch, err := r.schedule()
	if err != nil {
		return fmt.Errorf("schedule: rule %s: %w", name, err)
	}
	s.mu.Lock()
	s.applyLocked(r, kve.Revision(), sch)
	s.mu.Unlock()
	s.poke()
	return nil
}

// applyLocked installs a stored rule unless memory already has a newer revision.
func (s *Service) applyLocked(r Rule, rev uint64, sch Schedule) {
	e := s.rules[r.Name]
	if e == nil {
		e = &entry{index: -1}
		s.rules[r.Name] = e
	} else if e.rev >= rev {
		return
	}
	if e.rule.Since != r.Since || e.rule.ScheduleExpression != r.ScheduleExpression {
		e.retries, e.retryAt = 0, time.Time{} // a pending retry belongs to the old schedule
	}
	e.rule, e.rev, e.sched = r, rev, sch
	s.rescheduleLocked(e)
}

// Status is a rule's schedule as `nimbus schedules list` shows it.
type Status struct {
	Name               string      `json:"name"`
	ARN                string      `json:"arn"`
	ScheduleExpression string      `json:"scheduleExpression"`
	Timezone           string      `json:"timezone,omitempty"`
	State              string      `json:"state"`
	Targets            []string    `json:"targets"`
	LastFire           *time.Time  `json:"lastFire,omitempty"`
	NextFires          []time.Time `json:"nextFires"`
}

// Status returns every rule with its next n occurrences (none when disabled), by name.
func (s *Service) Status(n int) []Status {
	now := s.clock.Now()
	s.mu.Lock()
	out := make([]Status, 0, len(s.rules))
	for _, e := range s.rules {
		st := Status{Name: e.rule.Name, ARN: e.rule.ARN(), ScheduleExpression: e.rule.ScheduleExpression,
			Timezone: e.rule.Timezone, State: e.rule.State, Targets: []string{}, NextFires: []time.Time{}}
		for _, t := range e.rule.Targets {
			st.Targets = append(st.Targets, t.ARN)
		}
		if !e.lastFire.IsZero() {
			lf := e.lastFire.UTC()
			st.LastFire = &lf
		}
		if e.rule.State == Enabled {
			t := latest(e.rule.Since, e.through, now)
			for range n {
				if t = e.sched.Next(t); t.IsZero() {
					break
				}
				st.NextFires = append(st.NextFires, t.UTC())
			}
		}
		out = append(out, st)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
