package template

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Options are what a plan needs beyond the template.
type Options struct {
	// Stack is the stack name: a letter, then letters, digits and '-', at
	// most 128 characters. Required.
	Stack string
	// Dir is the template's directory; CodeUri and DefinitionUri are
	// relative to it. Empty means the current directory.
	Dir string
	// Parameters override parameter values (--parameter-overrides).
	Parameters map[string]string
	// Endpoint is nimbus's API URL, used in queue URLs (Ref of a queue,
	// QueueUrl); empty means http://127.0.0.1:8900. Queue URLs are accepted
	// whatever host they name, so any reachable one will do.
	Endpoint string
	// Imports are other stacks' exported outputs, for Fn::ImportValue.
	Imports map[string]string
}

// DefaultEndpoint is Options.Endpoint's default.
const DefaultEndpoint = "http://127.0.0.1:8900"

var stackRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// ValidStackName reports whether s can name a stack.
func ValidStackName(s string) bool { return stackRE.MatchString(s) }

// planner holds one Plan's (or Resolve's) state. It is used by one goroutine.
type planner struct {
	t      *Template
	opts   Options
	dir    string
	params map[string]*node

	conds       map[string]bool
	condBusy    map[string]bool
	inCondition bool

	enabled  map[string]bool  // template resources whose Condition holds
	props    map[string]*node // merged (Globals) raw properties
	entities map[string]*entity
	busy     map[string]bool // entities being computed
	implicit map[string]bool // ServerlessHttpApi, ServerlessRestApi when used

	deps    map[string]bool // logical ids the value being resolved refers to; nil: not recorded
	imports map[string]bool

	errs     errorList
	warnings []string
	notes    map[string][]string // note → logical ids, reported once
	plan     *Plan
	routes   []*route
	apiPlans map[string]*apiPlan
}

func (t *Template) newPlanner(opts Options) (*planner, error) {
	if !ValidStackName(opts.Stack) {
		return nil, &Error{Msg: fmt.Sprintf("stack name %q must start with a letter and hold only letters, digits and '-' (at most 128)", opts.Stack)}
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	opts.Endpoint = strings.TrimRight(opts.Endpoint, "/")
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	params, err := t.parameters(opts.Parameters)
	if err != nil {
		return nil, err
	}
	p := &planner{
		t: t, opts: opts, dir: dir, params: params,
		conds: map[string]bool{}, condBusy: map[string]bool{},
		enabled: map[string]bool{}, props: map[string]*node{},
		entities: map[string]*entity{}, busy: map[string]bool{}, implicit: map[string]bool{},
		imports: map[string]bool{}, notes: map[string][]string{}, apiPlans: map[string]*apiPlan{},
	}
	p.warnings = append(p.warnings, t.warnings...)
	if t.conditions != nil {
		for _, name := range t.conditions.keys {
			if _, err := p.condition(name, t.conditions.get(name), "Conditions."+name); err != nil {
				p.errs.add(err)
			}
		}
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	for _, r := range t.resources {
		p.enabled[r.id] = r.condition == "" || p.conds[r.condition]
		p.props[r.id] = p.merged(r)
	}
	for _, r := range t.resources {
		if !p.enabled[r.id] {
			continue
		}
		for _, dep := range r.dependsOn {
			if !p.enabled[dep] {
				p.errs.add(errAt(r.line, "Resources."+r.id+".DependsOn", "%s is not created (its condition %s is false)", dep, t.byID[dep].condition))
			}
		}
		if r.typ == TypeFunction {
			p.scanEvents(r)
		}
	}
	return p, p.errs.err()
}

// merged returns a resource's properties with its Globals section applied.
func (p *planner) merged(r *resource) *node {
	section := map[string]string{TypeFunction: "Function", TypeHttpAPI: "HttpApi", TypeRestAPI: "Api"}[r.typ]
	if g := p.t.globals[section]; g != nil {
		return mergeGlobals(g, r.props, "")
	}
	return r.props
}

// mergeGlobals applies SAM's rules: the resource's value wins, maps merge key
// by key, lists are the global items followed by the resource's.
func mergeGlobals(g, r *node, key string) *node {
	switch {
	case g == nil:
		return r
	case r == nil:
		return g
	}
	_, _, gi := g.intrinsic()
	_, _, ri := r.intrinsic()
	switch {
	case gi || ri:
		return r
	case g.kind == kMap && r.kind == kMap:
		out := &node{kind: kMap, line: r.line}
		for i, k := range g.keys {
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, mergeGlobals(g.vals[i], r.get(k), k))
		}
		for i, k := range r.keys {
			if g.get(k) == nil {
				out.keys = append(out.keys, k)
				out.vals = append(out.vals, r.vals[i])
			}
		}
		return out
	case g.kind == kList && r.kind == kList && key != "Architectures":
		out := &node{kind: kList, line: r.line}
		out.items = append(append(out.items, g.items...), r.items...)
		return out
	}
	return r
}

// Plan resolves the template for a stack and returns what to deploy.
func (t *Template) Plan(opts Options) (*Plan, error) {
	p, err := t.newPlanner(opts)
	if err != nil {
		return nil, err
	}
	p.plan = &Plan{Stack: opts.Stack, Description: t.Description, Resources: []Resource{}}
	if len(t.Parameters) > 0 {
		p.plan.Parameters = map[string]string{}
		for _, prm := range t.Parameters {
			v := p.params[prm.Name]
			s := v.text
			if v.kind == kList {
				parts := make([]string, len(v.items))
				for i, e := range v.items {
					parts[i] = e.text
				}
				s = strings.Join(parts, ",")
			}
			if prm.NoEcho {
				s = noEcho
			}
			p.plan.Parameters[prm.Name] = s
		}
	}
	for _, r := range t.resources {
		if !p.enabled[r.id] {
			continue
		}
		p.resource(r)
	}
	p.buildAPIs()
	p.outputs()
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	if err := p.sortResources(); err != nil {
		return nil, err
	}
	for i := range p.plan.Resources {
		if r := t.byID[p.plan.Resources[i].LogicalID]; r != nil && r.retain {
			p.plan.Resources[i].Retain = true
		}
	}
	p.plan.Imports = slices.Sorted(maps.Keys(p.imports))
	p.plan.Warnings = append(p.plan.Warnings, p.warnings...)
	for _, note := range slices.Sorted(maps.Keys(p.notes)) {
		p.plan.Warnings = append(p.plan.Warnings, note+" ("+strings.Join(p.notes[note], ", ")+")")
	}
	return p.plan, nil
}

// resource plans one template resource.
func (p *planner) resource(r *resource) {
	switch r.typ {
	case TypeFunction:
		p.function(r)
	case TypeQueue:
		p.queue(r)
	case TypeTopic:
		p.topic(r)
	case TypeStateMachine:
		p.stateMachine(r)
	case TypeHttpAPI, TypeRestAPI:
		p.api(r)
	default:
		if reason, ok := ignoredTypes[r.typ]; ok {
			p.unsupported(r.id, r.typ, reason)
			p.note(r.typ+": "+reason+"; ignored", r.id)
			return
		}
		reason := "not supported yet"
		p.unsupported(r.id, r.typ, reason)
		p.warnf("Resources.%s: %s is %s; not deployed", r.id, r.typ, reason)
	}
}

// ignoredTypes have no effect on nimbus.
var ignoredTypes = map[string]string{
	"AWS::IAM::Role":             "IAM is not enforced by nimbus",
	"AWS::IAM::Policy":           "IAM is not enforced by nimbus",
	"AWS::IAM::ManagedPolicy":    "IAM is not enforced by nimbus",
	"AWS::Lambda::Permission":    "IAM is not enforced by nimbus",
	"AWS::SQS::QueuePolicy":      "IAM is not enforced by nimbus",
	"AWS::SNS::TopicPolicy":      "IAM is not enforced by nimbus",
	"AWS::Logs::LogGroup":        "function logs go to nimbus's log store",
	"AWS::CloudWatch::Alarm":     "alarms are not evaluated",
	"AWS::CloudFormation::Stack": "nested stacks are not supported",
}

func (p *planner) add(res Resource) {
	p.plan.Resources = append(p.plan.Resources, res)
}

func (p *planner) unsupported(id, typ, reason string) {
	p.plan.Unsupported = append(p.plan.Unsupported, Unsupported{LogicalID: id, Type: typ, Reason: reason})
}

func (p *planner) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// note records a remark that applies to many resources; it is reported once
// with their ids.
func (p *planner) note(note, id string) {
	if !slices.Contains(p.notes[note], id) {
		p.notes[note] = append(p.notes[note], id)
	}
}

// resolveProps resolves a resource's properties (without the named ones),
// recording the resources they refer to in deps.
func (p *planner) resolveProps(n *node, path string, deps map[string]bool, skip ...string) *node {
	if n == nil {
		return &node{kind: kMap}
	}
	saved := p.deps
	p.deps = deps
	defer func() { p.deps = saved }()
	v, err := p.resolve(n.without(skip...), path)
	if err != nil {
		p.errs.add(err)
		return nil
	}
	if v == noValue || v == nil {
		return &node{kind: kMap}
	}
	return v
}

func (p *planner) depend(id string) {
	if p.deps != nil && id != "" {
		p.deps[id] = true
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func itoa(n int) string { return strconv.Itoa(n) }

func (p *planner) outputs() {
	for _, o := range p.t.outputs {
		if o.condition != "" && !p.conds[o.condition] {
			continue
		}
		path := "Outputs." + o.name
		v, err := p.resolve(o.value, join(path, "Value"))
		if err != nil {
			p.errs.add(err)
			continue
		}
		out := Output{Name: o.name}
		switch {
		case v == noValue:
			continue
		case v.isScalar():
			out.Value = v.text
		case v.kind == kList && allScalars(v.items):
			parts := make([]string, len(v.items))
			for i, e := range v.items {
				parts[i] = e.text
			}
			out.Value = strings.Join(parts, ",")
		default:
			p.errs.add(errNode(o.value, join(path, "Value"), "must be a string or a list of strings, not %s", describe(v)))
			continue
		}
		if o.description != nil {
			if out.Description, _, err = p.resolveString(o.description, join(path, "Description")); err != nil {
				p.errs.add(err)
			}
		}
		if o.export != nil {
			if out.ExportName, _, err = p.resolveString(o.export.get("Name"), join(path, "Export.Name")); err != nil {
				p.errs.add(err)
			}
		}
		p.plan.Outputs = append(p.plan.Outputs, out)
	}
}

// Resolve returns the processed template as JSON: conditions applied
// (resources and outputs whose condition is false removed), Globals merged
// into each resource, every intrinsic function resolved. It is for display
// (nimbus validate); what nimbus deploys is the Plan.
func (t *Template) Resolve(opts Options) ([]byte, error) {
	p, err := t.newPlanner(opts)
	if err != nil {
		return nil, err
	}
	root := &node{kind: kMap}
	if t.Description != "" {
		root.set("Description", str(t.Description, 0))
	}
	resources := &node{kind: kMap}
	for _, r := range t.resources {
		if !p.enabled[r.id] {
			continue
		}
		res := &node{kind: kMap}
		res.set("Type", str(r.typ, 0))
		if props := p.resolveProps(p.props[r.id], "Resources."+r.id+".Properties", nil); props != nil && len(props.keys) > 0 {
			res.set("Properties", props)
		}
		if len(r.dependsOn) > 0 {
			deps := &node{kind: kList}
			for _, d := range r.dependsOn {
				deps.items = append(deps.items, str(d, 0))
			}
			res.set("DependsOn", deps)
		}
		resources.set(r.id, res)
	}
	root.set("Resources", resources)
	p.plan = &Plan{}
	p.outputs()
	if len(p.plan.Outputs) > 0 {
		outs := &node{kind: kMap}
		for _, o := range p.plan.Outputs {
			on := &node{kind: kMap}
			on.set("Value", str(o.Value, 0))
			if o.Description != "" {
				on.set("Description", str(o.Description, 0))
			}
			if o.ExportName != "" {
				on.set("Export", &node{kind: kMap, keys: []string{"Name"}, vals: []*node{str(o.ExportName, 0)}})
			}
			outs.set(o.Name, on)
		}
		root.set("Outputs", outs)
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return root.toJSON(), nil
}
