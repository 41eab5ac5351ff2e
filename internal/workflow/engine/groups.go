package engine

import (
	"fmt"
	"math"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

type groupKind uint8

const (
	groupParallel groupKind = iota
	groupInlineMap
	groupDistributedMap
)

// group tracks the children of a running Parallel or Map state.
type group struct {
	kind        groupKind
	inputs      []any     // per child input (Map: item values, before ItemSelector)
	results     []any     // per child result
	running     []*thread // per child, while it runs
	next        int       // next child to start
	active      int
	completed   int
	failed      int
	concurrency int // 0: unbounded
	tolCount    int64
	hasTolCount bool
	tolPct      float64
	hasTolPct   bool
	batched     bool
	lastIter    int64 // id of the last MapIterationSucceeded
}

// startChildren starts (or, after a retry, restarts) a Parallel's branches
// or a Map's iterations.
func (x *Execution) startChildren(t *thread) {
	st := t.st
	if st.Type == asl.Parallel {
		x.emit(t, Event{Type: EvParallelStateStarted})
		g := &group{kind: groupParallel, results: make([]any, len(st.Branches)), running: make([]*thread, len(st.Branches))}
		t.group = g
		t.phase = phChildren
		for i, b := range st.Branches {
			c := x.newThread(t, b, kindBranch, i, x.newScope(t.scope))
			c.input = t.effective
			x.enterState(c, b.StartAt)
			g.running[i] = c
			g.active++
			x.runq = append(x.runq, c)
		}
		g.next = len(st.Branches)
		return
	}
	x.startMap(t)
}

func (x *Execution) startMap(t *thread) {
	st := t.st
	s := x.scopeFor(t, t.effective)
	itemsVal := t.effective
	if st.ItemsPath != nil {
		v, err := jsonpath.EvalPath(st.ItemsPath, s)
		if err != nil {
			x.fail(t, x.pathFailure(t, err))
			return
		}
		itemsVal = v
	}
	items, ok := itemsVal.([]any)
	if !ok {
		x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, fmt.Sprintf(
			"Invalid path '%s': The ItemsPath must reference a JSON array, but it references a %s.", pathText(st.ItemsPath), jsonv.KindOf(itemsVal)))))
		return
	}
	g := &group{kind: groupInlineMap, concurrency: int(st.MaxConcurrency)}
	if st.ProcessorMode == "DISTRIBUTED" {
		g.kind = groupDistributedMap
	}
	// MaxConcurrencyPath is read before the Map starts, the tolerances after.
	if st.MaxConcurrencyPath != nil {
		n, f := x.intParam(t, s, st.MaxConcurrencyPath, "MaxConcurrencyPath")
		if f != nil {
			x.fail(t, f)
			return
		}
		if n < 0 {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "MaxConcurrency cannot be negative.")))
			return
		}
		g.concurrency = int(n)
	}
	x.emit(t, Event{Type: EvMapStateStarted, Length: len(items)})
	g.tolCount, g.hasTolCount = st.ToleratedFailureCount, st.HasToleratedFailureCount
	if st.ToleratedFailureCountPath != nil {
		n, f := x.intParam(t, s, st.ToleratedFailureCountPath, "ToleratedFailureCountPath")
		if f != nil {
			x.fail(t, f)
			return
		}
		g.tolCount, g.hasTolCount = n, true
	}
	if g.hasTolCount && g.tolCount < 0 {
		x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "ToleratedFailureCount cannot be negative.")))
		return
	}
	g.tolPct, g.hasTolPct = st.ToleratedFailurePercentage, st.HasToleratedFailurePercentage
	if st.ToleratedFailurePercentagePath != nil {
		v, err := jsonpath.EvalPath(st.ToleratedFailurePercentagePath, s)
		if err != nil {
			x.fail(t, x.pathFailure(t, err))
			return
		}
		pct, ok := asl.FloatValue(v)
		if !ok {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, fmt.Sprintf(
				"The ToleratedFailurePercentagePath field refers to value \"%s\" which is not a valid float: %s", valueText(v), st.ToleratedFailurePercentagePath))))
			return
		}
		g.tolPct, g.hasTolPct = pct, true
	}
	if g.hasTolPct && (g.tolPct < 0 || g.tolPct > 100) {
		x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "ToleratedFailurePercentage must be between 0 and 100.")))
		return
	}
	if g.kind == groupDistributedMap {
		x.emit(t, Event{Type: EvMapRunStarted, MapRunARN: x.mapRunARN(st)})
	}
	// Per-child inputs: ItemSelector, then batching.
	inputs := make([]any, len(items))
	for i, item := range items {
		inputs[i] = item
		if st.ItemSelector != nil {
			ctx := &stateContext{x: x, t: t, hasItem: true, index: i, value: item}
			v, f := x.template(t, st.ItemSelector, t.effective, ctx)
			if f != nil {
				x.fail(t, f)
				return
			}
			inputs[i] = v
		}
	}
	if st.ItemBatcher != nil {
		var f *failure
		if inputs, f = x.batch(t, s, st.ItemBatcher, inputs); f != nil {
			x.fail(t, f)
			return
		}
		g.batched = true
	}
	g.inputs = inputs
	g.results = make([]any, len(inputs))
	g.running = make([]*thread, len(inputs))
	t.group = g
	t.phase = phChildren
	if len(inputs) == 0 {
		x.groupDone(t)
		return
	}
	x.startIterations(t)
}

func pathText(p *jsonpath.Path) string {
	if p == nil {
		return "$"
	}
	return p.String()
}

func (x *Execution) mapRunARN(st *asl.State) string {
	label := st.Label
	if label == "" {
		label = jsonpath.NewUUID()
	}
	return fmt.Sprintf("arn:aws:states:%s:%s:mapRun:%s/%s:%s", x.region, x.account, x.cfg.StateMachineName, label, jsonpath.NewUUID())
}

// intParam reads an integer from a Map …Path field.
func (x *Execution) intParam(t *thread, s *jsonpath.Scope, p *jsonpath.Path, field string) (int64, *failure) {
	v, err := jsonpath.EvalPath(p, s)
	if err != nil {
		return 0, x.pathFailure(t, err)
	}
	n, ok := asl.IntValue(v)
	if !ok {
		return 0, runtimeFailure("States.Runtime", x.runtimeCause(t, fmt.Sprintf(
			"The %s field refers to value \"%s\" which is not a valid integer: %s", field, valueText(v), p)))
	}
	return n, nil
}

// batch groups Map inputs as an ItemBatcher says.
func (x *Execution) batch(t *thread, s *jsonpath.Scope, b *asl.ItemBatcher, items []any) ([]any, *failure) {
	maxItems := b.MaxItemsPerBatch
	if b.MaxItemsPerBatchPath != nil {
		n, f := x.intParam(t, s, b.MaxItemsPerBatchPath, "MaxItemsPerBatchPath")
		if f != nil {
			return nil, f
		}
		maxItems = n
	}
	maxBytes := b.MaxInputBytesPerBatch
	if b.MaxInputBytesPerBatchPath != nil {
		n, f := x.intParam(t, s, b.MaxInputBytesPerBatchPath, "MaxInputBytesPerBatchPath")
		if f != nil {
			return nil, f
		}
		maxBytes = n
	}
	if maxItems <= 0 {
		maxItems = math.MaxInt64
	}
	if maxBytes <= 0 {
		maxBytes = 256 * 1024
	}
	var batchInput any
	hasInput := false
	if b.BatchInput != nil {
		v, f := x.template(t, b.BatchInput, s.Input, nil)
		if f != nil {
			return nil, f
		}
		batchInput, hasInput = v, true
	}
	var out []any
	var cur []any
	size := 0
	flush := func() {
		if len(cur) == 0 {
			return
		}
		o := jsonv.NewObject(2)
		if hasInput {
			o.Set("BatchInput", batchInput)
		}
		o.Set("Items", cur)
		out = append(out, o)
		cur, size = nil, 0
	}
	for _, it := range items {
		n := len(jsonv.Marshal(it))
		if len(cur) > 0 && (int64(len(cur)) >= maxItems || int64(size+n) > maxBytes) {
			flush()
		}
		cur = append(cur, it)
		size += n
	}
	flush()
	return out, nil
}

// startIterations starts Map iterations up to the concurrency limit.
func (x *Execution) startIterations(t *thread) {
	st, g := t.st, t.group
	for g.next < len(g.inputs) && (g.concurrency == 0 || g.active < g.concurrency) {
		i := g.next
		g.next++
		var c *thread
		if g.kind == groupDistributedMap {
			c = x.newThread(t, st.Processor, kindIteration, i, x.newScope(nil))
			c.quiet = true
			c.boundary = true
		} else {
			x.emit(t, Event{Type: EvMapIterationStarted, Name: st.Name, Index: i})
			c = x.newThread(t, st.Processor, kindIteration, i, x.newScope(t.scope))
		}
		c.input = g.inputs[i]
		x.enterState(c, st.Processor.StartAt)
		g.running[i] = c
		g.active++
		x.runq = append(x.runq, c)
	}
}

// childDone records a child's end in its parent's group.
func (x *Execution) childDone(p *thread, c *thread, out any, f *failure) {
	g := p.group
	if g == nil || c.index >= len(g.running) || g.running[c.index] != c {
		return
	}
	g.running[c.index] = nil
	g.active--
	g.completed++
	st := p.st
	if !c.quiet {
		p.lastEvent = c.lastEvent // what follows is caused by the child's end
	}
	if f == nil {
		g.results[c.index] = out
		if g.kind == groupInlineMap {
			g.lastIter = x.emit(p, Event{Type: EvMapIterationSucceeded, Name: st.Name, Index: c.index})
		}
	} else {
		switch g.kind {
		case groupDistributedMap:
			g.failed++
			g.results[c.index] = f.errorOutput()
			if !x.tolerated(g) {
				x.abortChildren(p, false)
				x.emit(p, Event{Type: EvMapRunFailed})
				x.groupFailed(p, newFailure("States.ExceedToleratedFailureThreshold", "The specified tolerance threshold was exceeded."))
				return
			}
		case groupInlineMap:
			x.emit(p, Event{Type: EvMapIterationFailed, Name: st.Name, Index: c.index})
			x.abortChildren(p, true)
			x.groupFailed(p, f)
			return
		default:
			x.abortChildren(p, false)
			x.groupFailed(p, f)
			return
		}
	}
	if g.completed == len(g.running) {
		x.groupDone(p)
		return
	}
	if g.kind != groupParallel {
		x.startIterations(p)
	}
}

func (x *Execution) tolerated(g *group) bool {
	if !g.hasTolCount && !g.hasTolPct {
		return false
	}
	if g.hasTolCount && int64(g.failed) > g.tolCount {
		return false
	}
	if g.hasTolPct && float64(g.failed)*100/float64(len(g.inputs)) > g.tolPct {
		return false
	}
	return true
}

// abortChildren stops a group's running children.
func (x *Execution) abortChildren(p *thread, recordIterations bool) {
	g := p.group
	for i, c := range g.running {
		if c == nil {
			continue
		}
		x.abortThread(c)
		g.running[i] = nil
		if recordIterations {
			x.emit(p, Event{Type: EvMapIterationAborted, Name: p.st.Name, Index: i})
		}
	}
}

func (x *Execution) groupFailed(p *thread, f *failure) {
	p.group = nil
	p.err = f
	p.phase = phFailed
	x.runq = append(x.runq, p)
}

func (x *Execution) groupDone(p *thread) {
	g := p.group
	switch g.kind {
	case groupParallel:
		x.emit(p, Event{Type: EvParallelStateSucceeded})
	case groupInlineMap:
		if g.lastIter != 0 {
			p.lastEvent = g.lastIter
		}
		x.emit(p, Event{Type: EvMapStateSucceeded})
	case groupDistributedMap:
		// As recorded since late 2024: MapStateSucceeded follows MapRunSucceeded,
		// MapStateExited follows MapRunStarted.
		main := p.lastEvent
		p.lastEvent = x.emit(p, Event{Type: EvMapRunSucceeded})
		x.emit(p, Event{Type: EvMapStateSucceeded})
		p.lastEvent = main
	}
	p.group = nil
	p.result = g.results
	p.phase = phChildrenDone
	x.runq = append(x.runq, p)
}
