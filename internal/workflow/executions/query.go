package executions

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
)

// record reads an execution's durable record by ARN.
func (s *Service) record(ctx context.Context, arn string) (*execRecord, error) {
	ref, err := s.arns.parseExecution(arn)
	if err != nil {
		return nil, err
	}
	r, _, err := s.st.execution(ctx, key(ref.machine, ref.name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, noExecution(arn)
	}
	return r, err
}

// Describe describes a Standard execution (DescribeExecution).
func (s *Service) Describe(ctx context.Context, arn string) (Execution, error) {
	r, err := s.record(ctx, arn)
	if err != nil {
		return Execution{}, err
	}
	return s.view(r), nil
}

// MachineForExecution describes the state machine as the execution runs it
// (DescribeStateMachineForExecution): the definition it started with.
func (s *Service) MachineForExecution(ctx context.Context, arn string) (Machine, error) {
	r, err := s.record(ctx, arn)
	if err != nil {
		return Machine{}, err
	}
	def, err := s.definitionText(ctx, r.Definition)
	if err != nil {
		return Machine{}, err
	}
	m := Machine{Name: r.Machine, ARN: s.arns.machine(r.Machine), Type: r.Type, RoleARN: r.RoleARN, Definition: def,
		RevisionID: r.RevisionID, Updated: r.MachineDate, Tracing: r.Tracing, Logging: Logging{Level: "OFF"}}
	if r.Logging != nil {
		m.Logging = *r.Logging
	}
	return m, nil
}

// ListInput is a ListExecutions request.
type ListInput struct {
	MachineARN   string // may name a version: only executions of it
	StatusFilter string
	MaxResults   int
	NextToken    string
}

var statuses = []string{"SUCCEEDED", "TIMED_OUT", "PENDING_REDRIVE", "ABORTED", "FAILED", "RUNNING"}

// List lists a state machine's executions, newest first (ListExecutions).
func (s *Service) List(ctx context.Context, in ListInput) ([]Execution, string, error) {
	if in.StatusFilter != "" && !slices.Contains(statuses, in.StatusFilter) {
		return nil, "", validation("1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [%s]", in.StatusFilter, strings.Join(statuses, ", "))
	}
	n, err := checkMaxResults(in.MaxResults)
	if err != nil {
		return nil, "", err
	}
	ref, err := s.arns.parseMachine(in.MachineARN)
	if err != nil {
		return nil, "", err
	}
	m, _, err := s.resolveMachine(ctx, in.MachineARN)
	if err != nil {
		return nil, "", err
	}
	if m.Type == asl.Express {
		return nil, "", apiError(CodeTypeNotSupported, "This operation is not supported by this type of state machine")
	}
	var after struct {
		start int64
		arn   string
	}
	if in.NextToken != "" {
		pos, err := readPageToken(in.NextToken, 3096)
		if err != nil {
			return nil, "", err
		}
		ms, arn, ok := strings.Cut(pos, " ")
		after.start, _ = strconv.ParseInt(ms, 10, 64)
		after.arn = arn
		if !ok {
			return nil, "", apiError(CodeInvalidToken, "Invalid Token: '"+in.NextToken+"'")
		}
	}
	var all []*execRecord
	s.execs.mu.RLock()
	for k := range s.byMach[ref.name] {
		if e := s.execs.m[k]; e.v != nil {
			all = append(all, e.v)
		}
	}
	s.execs.mu.RUnlock()
	// Newest first; ties by ARN for a stable order across pages.
	slices.SortFunc(all, func(a, b *execRecord) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ARN, b.ARN)
	})
	var out []Execution
	for _, r := range all {
		if ref.version != 0 && r.Version != ref.version || in.StatusFilter != "" && r.Status != in.StatusFilter {
			continue
		}
		if in.NextToken != "" {
			ms := r.Start.UnixNano()
			if ms > after.start || ms == after.start && r.ARN <= after.arn {
				continue
			}
		}
		if len(out) == n {
			last := out[n-1]
			return out, pageToken(strconv.FormatInt(last.Start.UnixNano(), 10) + " " + last.ARN), nil
		}
		out = append(out, s.view(r))
	}
	return out, "", nil
}

// Stop aborts a running execution (StopExecution) and returns when the
// abort is committed.
func (s *Service) Stop(ctx context.Context, arn, errName, cause string) (time.Time, error) {
	r, err := s.record(ctx, arn)
	if err != nil {
		return time.Time{}, err
	}
	if r.Status != engine.StatusRunning {
		return r.Stop, nil // already ended: stopping it again changes nothing
	}
	l, ok := s.liveFor(arn)
	if !ok {
		return time.Time{}, unavailable()
	}
	l.x.Stop(errName, cause)
	select {
	case <-l.done:
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	if l.res == nil {
		return time.Time{}, unavailable()
	}
	return l.res.Stop, nil
}

// HistoryInput is a GetExecutionHistory request.
type HistoryInput struct {
	ARN                  string
	MaxResults           int
	NextToken            string
	ReverseOrder         bool
	IncludeExecutionData *bool // nil means true
}

// History returns a page of an execution's committed history, each event
// in GetExecutionHistory's JSON shape.
func (s *Service) History(ctx context.Context, in HistoryInput) ([]json.RawMessage, string, error) {
	n, err := checkMaxResults(in.MaxResults)
	if err != nil {
		return nil, "", err
	}
	r, err := s.record(ctx, in.ARN)
	if err != nil {
		return nil, "", err
	}
	from := 0
	if in.NextToken != "" {
		pos, err := readPageToken(in.NextToken, 3096)
		if err != nil {
			return nil, "", err
		}
		if from, err = strconv.Atoi(pos); err != nil || from < 0 {
			return nil, "", apiError(CodeInvalidToken, "Invalid Token: '"+in.NextToken+"'")
		}
	}
	events, err := s.st.events(ctx, r.key())
	if err != nil {
		return nil, "", err
	}
	if in.ReverseOrder {
		slices.Reverse(events)
	}
	if from > len(events) {
		from = len(events)
	}
	page := events[from:min(from+n, len(events))]
	next := ""
	if from+n < len(events) {
		next = pageToken(strconv.Itoa(from + n))
	}
	if in.IncludeExecutionData != nil && !*in.IncludeExecutionData {
		page = slices.Clone(page)
		for i, ev := range page {
			page[i] = withoutData(ev)
		}
	}
	return page, next, nil
}

// withoutData removes inputs and outputs from an event's details.
func withoutData(ev json.RawMessage) json.RawMessage {
	var top map[string]json.RawMessage
	if json.Unmarshal(ev, &top) != nil {
		return ev
	}
	for k, v := range top {
		if !strings.HasSuffix(k, "EventDetails") {
			continue
		}
		var d map[string]json.RawMessage
		if json.Unmarshal(v, &d) != nil {
			continue
		}
		for _, f := range []string{"input", "inputDetails", "output", "outputDetails", "parameters", "assignedVariables", "assignedVariablesDetails"} {
			delete(d, f)
		}
		top[k], _ = json.Marshal(d)
	}
	b, err := json.Marshal(top)
	if err != nil {
		return ev
	}
	return b
}

// waitEnded waits for a Standard execution to end and returns its record.
func (s *Service) waitEnded(ctx context.Context, arn string) (*execRecord, error) {
	for {
		if l, ok := s.liveFor(arn); ok {
			select {
			case <-l.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		r, err := s.record(ctx, arn)
		if err != nil {
			return nil, err
		}
		if r.Status != engine.StatusRunning {
			return r, nil
		}
		// Not running here (yet): being resumed, or stopped by a failure.
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// isAPIError reports whether err is one of the service's own errors.
func isAPIError(err error, code string) bool {
	e, ok := lambda.AsError(err)
	return ok && e.Code == code
}
