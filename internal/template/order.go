package template

import (
	"sort"
	"strings"
)

// rank orders kinds of resources that do not refer to each other: what is
// used (queues, topics) before its users (functions), functions before what
// calls them.
func rank(r *Resource) int {
	switch {
	case r.Queue != nil, r.Topic != nil:
		return 0
	case r.Function != nil:
		return 1
	case r.StateMachine != nil:
		return 2
	}
	return 3
}

// sortResources puts the plan's resources in dependency order and keeps in
// DependsOn only the dependencies that order: references to resources that
// are not in the plan, and references to a later rank (a function naming the
// API that calls it) are dropped — every name is known before anything
// exists, so only existence needs ordering. Resources of the same rank that
// depend on each other in a cycle are an error.
func (p *planner) sortResources() error {
	res := p.plan.Resources
	pos := map[string]int{}
	for i := range res {
		if j, dup := pos[res[i].LogicalID]; dup {
			return &Error{Path: "Resources." + res[i].LogicalID, Msg: "this logical id names both a " + res[j].Type + " and a " + res[i].Type + " (SAM names the resources it generates <Function><Event>…)"}
		}
		pos[res[i].LogicalID] = i
	}
	deps := make([][]int, len(res))
	for i := range res {
		var kept []string
		for _, d := range res[i].DependsOn {
			j, ok := pos[d]
			if !ok || j == i || rank(&res[j]) > rank(&res[i]) {
				continue
			}
			deps[i] = append(deps[i], j)
			kept = append(kept, d)
		}
		res[i].DependsOn = kept
	}
	done := make([]bool, len(res))
	out := make([]Resource, 0, len(res))
	for len(out) < len(res) {
		best := -1
		for i := range res {
			if done[i] || !ready(deps[i], done) {
				continue
			}
			if best < 0 || rank(&res[i]) < rank(&res[best]) {
				best = i
			}
		}
		if best < 0 {
			var stuck []string
			for i := range res {
				if !done[i] {
					stuck = append(stuck, res[i].LogicalID)
				}
			}
			sort.Strings(stuck)
			return &Error{Path: "Resources", Msg: "circular dependency between " + strings.Join(stuck, ", ")}
		}
		done[best] = true
		out = append(out, res[best])
	}
	p.plan.Resources = out
	return nil
}

func ready(deps []int, done []bool) bool {
	for _, j := range deps {
		if !done[j] {
			return false
		}
	}
	return true
}
