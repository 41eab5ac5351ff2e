package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// SnapshotVersion is the version of the Snapshot encoding.
const SnapshotVersion = 1

// Snapshot is an execution's state at a commit: every live thread (the top
// level, Parallel branches, Map iterations), where it is blocked, its
// variables and its pending task attempts and timers. It is plain data
// meant to be stored as JSON.
type Snapshot struct {
	Version     int             `json:"version"`
	LastEventID int64           `json:"lastEventId"`
	StartTime   time.Time       `json:"startTime"`
	Input       jsonv.Value     `json:"input"`
	TimeoutAt   time.Time       `json:"timeoutAt,omitzero"`
	NextOp      int             `json:"nextOp"`
	Scopes      []scopeSnapshot `json:"scopes"`
	Threads     []threadSnap    `json:"threads"`
}

type scopeSnapshot struct {
	ID     int                    `json:"id"`
	Parent int                    `json:"parent"` // -1: none
	Vars   map[string]jsonv.Value `json:"vars,omitempty"`
}

type threadSnap struct {
	ID         int         `json:"id"`
	Parent     int         `json:"parent"` // -1: the top level
	Kind       threadKind  `json:"kind"`
	Index      int         `json:"index"`
	Quiet      bool        `json:"quiet,omitempty"`
	Boundary   bool        `json:"boundary,omitempty"`
	Scope      int         `json:"scope"`
	State      string      `json:"state"`
	Phase      phase       `json:"phase"`
	Input      jsonv.Value `json:"input"`
	Effective  jsonv.Value `json:"effective"`
	EnteredID  int64       `json:"enteredId"`
	EnteredAt  time.Time   `json:"enteredAt"`
	LastEvent  int64       `json:"lastEvent"`
	Retries    []int64     `json:"retries,omitempty"`
	RetryCount int         `json:"retryCount,omitempty"`
	TimerAt    time.Time   `json:"timerAt,omitzero"`
	Op         *opSnapshot `json:"op,omitempty"`
	Group      *groupSnap  `json:"group,omitempty"`
}

type opSnapshot struct {
	ID          int             `json:"id"`
	RequestID   string          `json:"requestId"`
	Input       json.RawMessage `json:"input"`
	Credentials json.RawMessage `json:"credentials,omitempty"`
	Token       string          `json:"token,omitempty"`
	Timeout     time.Duration   `json:"timeout,omitempty"`
	Heartbeat   time.Duration   `json:"heartbeat,omitempty"`
	Submitted   bool            `json:"submitted,omitempty"`
	Started     bool            `json:"started,omitempty"`
	ScheduledID int64           `json:"scheduledId"`
	TimeoutAt   time.Time       `json:"timeoutAt,omitzero"`
}

type groupSnap struct {
	Kind        groupKind     `json:"kind"`
	Inputs      []jsonv.Value `json:"inputs"`
	Results     []jsonv.Value `json:"results"`
	Running     []int         `json:"running"` // thread id per child, -1 when not running
	Next        int           `json:"next"`
	Active      int           `json:"active"`
	Completed   int           `json:"completed"`
	Failed      int           `json:"failed"`
	Concurrency int           `json:"concurrency"`
	TolCount    *int64        `json:"tolCount,omitempty"`
	TolPct      *float64      `json:"tolPct,omitempty"`
	Batched     bool          `json:"batched,omitempty"`
}

func values(vs []any) []jsonv.Value {
	out := make([]jsonv.Value, len(vs))
	for i, v := range vs {
		out[i] = jsonv.Value{V: v}
	}
	return out
}

func unvalues(vs []jsonv.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v.V
	}
	return out
}

// snapshot captures the state; the execution must be between steps.
func (x *Execution) snapshot() *Snapshot {
	s := &Snapshot{Version: SnapshotVersion, LastEventID: x.lastID, StartTime: x.startTime, Input: jsonv.Value{V: x.input}, TimeoutAt: x.timeoutAt, NextOp: x.nextOp}
	for _, sc := range x.scopes {
		ss := scopeSnapshot{ID: sc.id, Parent: -1}
		if sc.parent != nil {
			ss.Parent = sc.parent.id
		}
		if len(sc.vars) > 0 {
			ss.Vars = map[string]jsonv.Value{}
			for k, v := range sc.vars {
				ss.Vars[k] = jsonv.Value{V: v}
			}
		}
		s.Scopes = append(s.Scopes, ss)
	}
	for _, t := range x.threads {
		if t == nil || t.aborted {
			continue
		}
		ts := threadSnap{ID: t.id, Parent: -1, Kind: t.kind, Index: t.index, Quiet: t.quiet, Boundary: t.boundary,
			Scope: t.scope.id, Phase: t.phase, Input: jsonv.Value{V: t.input}, Effective: jsonv.Value{V: t.effective},
			EnteredID: t.enteredID, EnteredAt: t.enteredAt, LastEvent: t.lastEvent, Retries: t.retries, RetryCount: t.retryCount, TimerAt: t.timerAt}
		if t.parent != nil {
			ts.Parent = t.parent.id
		}
		if t.st != nil {
			ts.State = t.st.Name
		}
		if op := t.op; op != nil {
			ts.Op = &opSnapshot{ID: op.id, RequestID: op.req.ID, Input: op.req.Input, Credentials: op.req.Credentials, Token: op.req.Token,
				Timeout: op.req.Timeout, Heartbeat: op.req.Heartbeat, Submitted: op.submitted, Started: op.started, ScheduledID: op.scheduledID, TimeoutAt: op.timeoutAt}
		}
		if g := t.group; g != nil {
			gs := &groupSnap{Kind: g.kind, Inputs: values(g.inputs), Results: values(g.results), Next: g.next, Active: g.active,
				Completed: g.completed, Failed: g.failed, Concurrency: g.concurrency, Batched: g.batched}
			if g.hasTolCount {
				gs.TolCount = &g.tolCount
			}
			if g.hasTolPct {
				gs.TolPct = &g.tolPct
			}
			for _, c := range g.running {
				if c == nil {
					gs.Running = append(gs.Running, -1)
				} else {
					gs.Running = append(gs.Running, c.id)
				}
			}
			ts.Group = gs
		}
		s.Threads = append(s.Threads, ts)
	}
	return s
}

// Resume rebuilds an execution from the snapshot of its last commit. Run
// then continues it: timers are re-armed and task attempts that had not
// completed are started again.
func Resume(cfg Config, snap *Snapshot, tasks TaskRunner, clock Clock, journal Journal) (*Execution, error) {
	if snap == nil || snap.Version != SnapshotVersion {
		return nil, errors.New("engine: unsupported snapshot")
	}
	if len(snap.Threads) == 0 {
		return nil, errors.New("engine: the snapshot is of an execution that has ended")
	}
	x, err := newExecution(cfg, tasks, clock, journal)
	if err != nil {
		return nil, err
	}
	x.lastID = snap.LastEventID
	x.startTime = snap.StartTime
	x.input = snap.Input.V
	x.timeoutAt = snap.TimeoutAt
	x.nextOp = snap.NextOp
	x.buildContext()
	x.scopes = make([]*scope, len(snap.Scopes))
	for i, ss := range snap.Scopes {
		if ss.ID != i {
			return nil, errors.New("engine: corrupt snapshot scopes")
		}
		x.scopes[i] = &scope{id: i, vars: map[string]any{}}
		for k, v := range ss.Vars {
			x.scopes[i].vars[k] = v.V
		}
	}
	for i, ss := range snap.Scopes {
		if ss.Parent >= 0 {
			x.scopes[i].parent = x.scopes[ss.Parent]
		}
	}
	maxID := -1
	for _, ts := range snap.Threads {
		maxID = max(maxID, ts.ID)
	}
	x.threads = make([]*thread, maxID+1)
	// Parents come before their children in the snapshot.
	for _, ts := range snap.Threads {
		t := &thread{id: ts.ID, kind: ts.Kind, index: ts.Index, quiet: ts.Quiet, boundary: ts.Boundary, phase: ts.Phase,
			input: ts.Input.V, effective: ts.Effective.V, enteredID: ts.EnteredID, enteredAt: ts.EnteredAt, lastEvent: ts.LastEvent,
			retries: ts.Retries, retryCount: ts.RetryCount, timerAt: ts.TimerAt}
		if ts.Scope < 0 || ts.Scope >= len(x.scopes) {
			return nil, errors.New("engine: corrupt snapshot thread scope")
		}
		t.scope = x.scopes[ts.Scope]
		if ts.Parent < 0 {
			t.machine = &x.def.Machine
		} else {
			p := x.threads[ts.Parent]
			if p == nil || p.st == nil {
				return nil, errors.New("engine: corrupt snapshot thread parent")
			}
			t.parent = p
			switch p.st.Type {
			case asl.Parallel:
				if ts.Index >= len(p.st.Branches) {
					return nil, errors.New("engine: corrupt snapshot branch")
				}
				t.machine = p.st.Branches[ts.Index]
			case asl.Map:
				t.machine = p.st.Processor
			}
		}
		st, ok := t.machine.States[ts.State]
		if !ok {
			return nil, fmt.Errorf("engine: snapshot state %q not in the definition", ts.State)
		}
		t.st = st
		if o := ts.Op; o != nil {
			res, err := asl.ParseResource(st.Resource)
			if err != nil {
				return nil, err
			}
			op := &taskOp{id: o.ID, thread: t, callback: res.Pattern == asl.PatternCallback, submitted: o.Submitted, started: o.Started,
				scheduledID: o.ScheduledID, timeoutAt: o.TimeoutAt}
			op.lambda, op.resType, op.res = taskNames(res)
			op.req = TaskRequest{ID: o.RequestID, ExecutionARN: cfg.ExecutionARN, StateName: st.Name, Resource: res, Input: o.Input,
				Credentials: o.Credentials, Token: o.Token, Timeout: o.Timeout, Heartbeat: o.Heartbeat}
			t.op = op
			x.ops[op.id] = op
			if op.req.Token != "" {
				x.tokens[op.req.Token] = op.id
			}
		}
		if gs := ts.Group; gs != nil {
			g := &group{kind: gs.Kind, inputs: unvalues(gs.Inputs), results: unvalues(gs.Results), next: gs.Next, active: gs.Active,
				completed: gs.Completed, failed: gs.Failed, concurrency: gs.Concurrency, batched: gs.Batched, running: make([]*thread, len(gs.Running))}
			if gs.TolCount != nil {
				g.tolCount, g.hasTolCount = *gs.TolCount, true
			}
			if gs.TolPct != nil {
				g.tolPct, g.hasTolPct = *gs.TolPct, true
			}
			t.group = g
		}
		x.threads[t.id] = t
	}
	for _, ts := range snap.Threads {
		if ts.Group == nil {
			continue
		}
		g := x.threads[ts.ID].group
		for i, id := range ts.Group.Running {
			if id >= 0 && id < len(x.threads) {
				g.running[i] = x.threads[id]
			}
		}
	}
	return x, nil
}

// restart re-arms what a resumed execution was waiting for.
func (x *Execution) restart() {
	if !x.timeoutAt.IsZero() {
		x.startTimer(x.timeoutAt, nil, nil, false)
	}
	for _, t := range x.threads {
		if t == nil {
			continue
		}
		switch t.phase {
		case phWait, phRetryWait:
			t.timer = x.startTimer(t.timerAt, t, nil, false)
		case phTaskWait:
			if t.op != nil {
				x.toStart = append(x.toStart, t.op)
			}
		case phTaskStart, phTaskDone, phChildrenDone, phChildrenStart, phEnter, phWaitDone, phFailed:
			x.runq = append(x.runq, t)
		}
	}
}
