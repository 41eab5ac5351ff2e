package deploy

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/template"
)

// applier carries one deploy (or delete) through its steps. It is used by
// one goroutine.
type applier struct {
	d        *Deployer
	emit     func(Event)
	packages map[string][]byte // by function name
	prev     *template.Plan    // the stored plan; nil for a first deploy
	next     *template.Plan    // the plan being applied; nil for a delete

	done    map[string]bool // logical ids of next applied (or found unchanged)
	failed  string          // the logical id whose step failed
	deleted map[string]bool // logical ids of prev deleted
	// cleanup runs after every create and update, before deletes: it
	// removes what a resource no longer has (an alias it dropped) once
	// nothing new points at it.
	cleanup []func(context.Context) error
	shifts  []Shift // traffic shifts started (shift.go)
}

// run applies changes: creates and updates in next's order, cleanups,
// then deletes (dependents first). Counts go into res.
func (a *applier) run(ctx context.Context, changes template.Changes, res *Result) error {
	a.deleted = map[string]bool{}
	byID := map[string]template.Change{}
	for _, c := range changes.Create {
		byID[c.LogicalID] = c
	}
	for _, c := range changes.Update {
		byID[c.LogicalID] = c
	}
	for i := range a.next.Resources {
		r := &a.next.Resources[i]
		start := time.Now()
		ev := Event{Kind: kindOf(r), LogicalID: r.LogicalID, PhysicalID: r.PhysicalID()}
		c, changed := byID[r.LogicalID]
		if !changed {
			ok, err := a.exists(ctx, r)
			if err != nil {
				a.failed = r.LogicalID
				return &Error{Action: ActionUnchanged, Kind: ev.Kind, LogicalID: r.LogicalID, Err: err}
			}
			if ok {
				a.done[r.LogicalID] = true
				res.Unchanged++
				ev.Action, ev.Elapsed = ActionUnchanged, time.Since(start)
				a.emit(ev)
				continue
			}
			c = template.Change{LogicalID: r.LogicalID, Type: r.Type, New: r}
			if a.prev != nil {
				c.Old = a.prev.Resource(r.LogicalID)
			}
			ev.Detail = "missing or changed on the server"
		}
		old := c.Old
		switch {
		case old == nil:
			ev.Action = ActionCreate
		case strings.HasSuffix(old.Type, incomplete):
			ev.Action, old = ActionUpdate, nil
			ev.Detail = "completing a failed deploy"
		case c.Replace:
			ev.Action, old = ActionReplace, nil
			ev.Detail = "was " + c.Old.PhysicalID()
		default:
			ev.Action = ActionUpdate
		}
		if err := a.apply(ctx, old, r); err != nil {
			a.failed = r.LogicalID
			return &Error{Action: ev.Action, Kind: ev.Kind, LogicalID: r.LogicalID, Err: err}
		}
		a.done[r.LogicalID] = true
		if ev.Action == ActionCreate {
			res.Created++
		} else {
			res.Updated++
		}
		ev.Elapsed = time.Since(start)
		a.emit(ev)
	}
	for _, f := range a.cleanup {
		if err := f(ctx); err != nil {
			return err
		}
	}
	for _, r := range a.deletes(changes) {
		if err := a.remove(ctx, r); err != nil {
			return err
		}
		if a.next.Resource(r.LogicalID) == nil { // not the old identity of a replaced one
			res.Deleted++
		}
	}
	for _, c := range changes.Retain {
		a.emit(Event{Action: ActionRetain, Kind: kindOf(c.Old), LogicalID: c.LogicalID, PhysicalID: c.Old.PhysicalID()})
	}
	return nil
}

// deletes are the old resources to delete, in reverse order of the old
// plan: those removed from the template and the old identities of replaced
// ones, except any whose kind and physical id the new plan uses again (a
// function renamed in the template but keeping its FunctionName).
func (a *applier) deletes(changes template.Changes) []*template.Resource {
	if a.prev == nil {
		return nil
	}
	claimed := map[string]bool{}
	for i := range a.next.Resources {
		claimed[identity(&a.next.Resources[i])] = true
	}
	gone := map[*template.Resource]bool{}
	for _, c := range changes.Delete {
		gone[c.Old] = true
	}
	for _, c := range changes.Update {
		if c.Replace {
			gone[c.Old] = true
		}
	}
	var out []*template.Resource
	for i := len(a.prev.Resources) - 1; i >= 0; i-- {
		r := &a.prev.Resources[i]
		if gone[r] {
			if claimed[identity(r)] {
				a.deleted[r.LogicalID] = true // nothing to delete: its successor is it
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

// identity is what a resource is on the server: its kind and physical id.
func identity(r *template.Resource) string { return kindOf(r) + " " + r.PhysicalID() }

// remove deletes one resource (already gone is fine) and reports it.
func (a *applier) remove(ctx context.Context, r *template.Resource) error {
	start := time.Now()
	if err := a.delete(ctx, r); err != nil {
		return &Error{Action: ActionDelete, Kind: kindOf(r), LogicalID: r.LogicalID, Err: err}
	}
	if a.deleted != nil {
		a.deleted[r.LogicalID] = true
	}
	a.emit(Event{Action: ActionDelete, Kind: kindOf(r), LogicalID: r.LogicalID, PhysicalID: r.PhysicalID(), Elapsed: time.Since(start)})
	return nil
}

// incomplete marks a resource whose step failed in a stored plan: the
// changed type makes the next deploy's Diff report a replacement, so the
// resource is applied again in full (its identity is unchanged, so nothing
// is deleted).
const incomplete = " (incomplete)"

// partial is the plan to store after a failed deploy: what this deploy
// applied with its new definition, what it did not reach with its old one,
// the resource that failed marked incomplete, and the old resources not yet
// deleted. It is nil when there is nothing to record.
func (a *applier) partial() *template.Plan {
	if a.prev == nil && len(a.done) == 0 && a.failed == "" {
		return nil
	}
	out := *a.next
	out.Resources = nil
	kept := map[*template.Resource]bool{}
	for i := range a.next.Resources {
		r := a.next.Resources[i]
		old := (*template.Resource)(nil)
		if a.prev != nil {
			old = a.prev.Resource(r.LogicalID)
		}
		switch {
		case a.done[r.LogicalID]:
			out.Resources = append(out.Resources, r)
			if old != nil && identity(old) != identity(&r) && !a.deleted[old.LogicalID] {
				// Replaced, not yet deleted: keep it under another id so
				// that the next deploy deletes it.
				o := *old
				o.LogicalID += "Replaced"
				out.Resources = append(out.Resources, o)
			}
			if old != nil {
				kept[old] = true
			}
		case r.LogicalID == a.failed:
			r.Type += incomplete
			out.Resources = append(out.Resources, r)
			if old != nil {
				kept[old] = true
				if identity(old) != identity(&r) {
					o := *old
					o.LogicalID += "Replaced"
					out.Resources = append(out.Resources, o)
				}
			}
		case old != nil:
			out.Resources = append(out.Resources, *old)
			kept[old] = true
		}
	}
	if a.prev != nil {
		for i := range a.prev.Resources {
			r := &a.prev.Resources[i]
			if !kept[r] && !a.deleted[r.LogicalID] {
				out.Resources = append(out.Resources, *r)
			}
		}
	}
	out.Resources = slices.Clip(out.Resources)
	if out.Resources == nil {
		out.Resources = []template.Resource{}
	}
	return &out
}

// kindOf names a resource's kind, as progress lines show it.
func kindOf(r *template.Resource) string {
	switch {
	case r.Function != nil:
		return "Function"
	case r.Queue != nil:
		return "Queue"
	case r.Topic != nil:
		return "Topic"
	case r.StateMachine != nil:
		return "StateMachine"
	case r.API != nil:
		return "Api"
	case r.EventSourceMapping != nil:
		return "EventSourceMapping"
	case r.Schedule != nil:
		return "Schedule"
	case r.Subscription != nil:
		return "Subscription"
	}
	return r.Type
}

// apply creates or updates one resource; old is its previous definition
// with the same identity, or nil.
func (a *applier) apply(ctx context.Context, old, r *template.Resource) error {
	switch {
	case r.Function != nil:
		var of *template.Function
		if old != nil {
			of = old.Function
		}
		return a.applyFunction(ctx, of, r.Function)
	case r.Queue != nil:
		return a.d.applyQueue(ctx, r.Queue)
	case r.Topic != nil:
		return a.d.applyTopic(ctx, r.Topic)
	case r.StateMachine != nil:
		return a.d.applyStateMachine(ctx, r.StateMachine)
	case r.API != nil:
		return a.d.putAPI(ctx, r.API)
	case r.EventSourceMapping != nil:
		return a.d.applyMapping(ctx, r.EventSourceMapping)
	case r.Schedule != nil:
		return a.d.applySchedule(ctx, r.LogicalID, r.Schedule)
	case r.Subscription != nil:
		return a.d.applySubscription(ctx, r.Subscription)
	}
	return errUnsupported
}

// exists reports whether a resource is on the server.
func (a *applier) exists(ctx context.Context, r *template.Resource) (bool, error) {
	switch {
	case r.Function != nil:
		return a.d.functionLive(ctx, r.Function)
	case r.Queue != nil:
		return a.d.queueExists(ctx, r.Queue.Name)
	case r.Topic != nil:
		return a.d.topicExists(ctx, r.Topic.ARN)
	case r.StateMachine != nil:
		return a.d.stateMachineExists(ctx, r.StateMachine.ARN)
	case r.API != nil:
		return a.d.apiExists(ctx, r.API.ID)
	case r.EventSourceMapping != nil:
		m, err := a.d.findMapping(ctx, r.EventSourceMapping)
		return m != nil, err
	case r.Schedule != nil:
		return a.d.ruleExists(ctx, r.Schedule.Name)
	case r.Subscription != nil:
		arn, err := a.d.findSubscription(ctx, r.Subscription)
		return arn != "", err
	}
	return false, errUnsupported
}

// delete deletes one resource; one already gone is not an error.
func (a *applier) delete(ctx context.Context, r *template.Resource) error {
	switch {
	case r.Function != nil:
		return a.d.deleteFunction(ctx, r.Function.Name)
	case r.Queue != nil:
		return a.d.deleteQueue(ctx, r.Queue.Name)
	case r.Topic != nil:
		return a.d.deleteTopic(ctx, r.Topic.ARN)
	case r.StateMachine != nil:
		return a.d.deleteStateMachine(ctx, r.StateMachine.ARN)
	case r.API != nil:
		return a.d.deleteAPI(ctx, r.API.ID)
	case r.EventSourceMapping != nil:
		return a.d.deleteMapping(ctx, r.EventSourceMapping)
	case r.Schedule != nil:
		return a.d.deleteRule(ctx, r.Schedule.Name)
	case r.Subscription != nil:
		return a.d.deleteSubscription(ctx, r.Subscription)
	}
	return errUnsupported
}
