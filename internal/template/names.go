package template

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Logical ids of the APIs SAM creates for events that name no API.
const (
	ImplicitHTTPAPI = "ServerlessHttpApi"
	ImplicitRestAPI = "ServerlessRestApi"
)

// APIID returns the gateway id of a stack's API: lower-case letters and
// digits from the stack name and logical id, then 8 hex digits of a hash of
// both (so that "a-b"+"C" and "ab"+"C" differ), at most 62 characters.
func APIID(stack, logicalID string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(stack + logicalID) {
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b.WriteRune(c)
		}
	}
	s := b.String()
	if len(s) > 54 {
		s = s[:54]
	}
	h := sha256.Sum256([]byte(stack + "/" + logicalID))
	return s + hex.EncodeToString(h[:4])
}

// ARNs of this installation.
func functionARN(name string) string { return lambda.FunctionARN(name) }
func queueARN(name string) string    { return "arn:aws:sqs:" + Region + ":" + AccountID + ":" + name }
func topicARN(name string) string    { return "arn:aws:sns:" + Region + ":" + AccountID + ":" + name }
func stateMachineARN(name string) string {
	return "arn:aws:states:" + Region + ":" + AccountID + ":stateMachine:" + name
}
func roleARN(name string) string { return "arn:aws:iam::" + AccountID + ":role/" + name }

// entity is anything Ref and Fn::GetAtt can name: a template resource, or a
// resource SAM generates.
type entity struct {
	owner string // the plan resource a reference makes a dependency on
	ref   string
	attrs map[string]string
	// placeholder: an unsupported resource; Ref is <stack>-<id> and any
	// attribute is <stack>-<id>.<attribute>.
	placeholder bool
}

// referable are SAM's referable properties (Ref: MyFunction.Alias).
var referable = map[string]bool{
	"Alias": true, "Version": true, "Stage": true, "Deployment": true, "DomainName": true,
	"DestinationQueue": true, "DestinationTopic": true,
}

// generated is a queue or topic SAM creates for a function.
type generated struct {
	function string
	topic    bool
}

func (p *planner) pseudo(name string, at *node, path string) (*node, error) {
	var v string
	switch name {
	case "AWS::Region":
		v = Region
	case "AWS::AccountId":
		v = AccountID
	case "AWS::StackName":
		v = p.opts.Stack
	case "AWS::StackId":
		h := sha256.Sum256([]byte(p.opts.Stack))
		x := hex.EncodeToString(h[:16])
		v = fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s-%s-%s-%s-%s", Region, AccountID, p.opts.Stack, x[:8], x[8:12], x[12:16], x[16:20], x[20:])
	case "AWS::Partition":
		v = Partition
	case "AWS::URLSuffix":
		v = URLSuffix
	case "AWS::NoValue":
		return noValue, nil
	case "AWS::NotificationARNs":
		return &node{kind: kList, line: at.line}, nil
	default:
		return nil, errNode(at, path, "unknown pseudo parameter %s", name)
	}
	return str(v, at.line), nil
}

func (p *planner) ref(name string, at *node, path string) (*node, error) {
	if v, ok := p.params[name]; ok {
		return v, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		return p.pseudo(name, at, path)
	}
	if p.inCondition {
		return nil, errNode(at, path, "conditions can refer only to parameters, not %s", name)
	}
	e, err := p.entity(name, at, path)
	if err != nil {
		return nil, err
	}
	p.depend(e.owner)
	return str(e.ref, at.line), nil
}

func (p *planner) getAtt(id, attr string, at *node, path string) (string, error) {
	if p.inCondition {
		return "", errNode(at, path, "conditions can refer only to parameters, not %s", id)
	}
	e, err := p.entity(id, at, path)
	if err != nil {
		return "", err
	}
	p.depend(e.owner)
	if v, ok := e.attrs[attr]; ok {
		return v, nil
	}
	if e.placeholder {
		return e.ref + "." + attr, nil
	}
	return "", errNode(at, path, "%s has no attribute %s (nimbus knows %s)", id, attr, strings.Join(sortedKeys(keySet(e.attrs)), ", "))
}

func keySet(m map[string]string) map[string]bool {
	s := make(map[string]bool, len(m))
	for k := range m {
		s[k] = true
	}
	return s
}

func (p *planner) entity(name string, at *node, path string) (*entity, error) {
	if e := p.entities[name]; e != nil {
		return e, nil
	}
	if p.busy[name] {
		return nil, errNode(at, path, "the name of %s depends on itself", name)
	}
	p.busy[name] = true
	defer delete(p.busy, name)
	// Names are resolved without recording dependencies: they are known
	// before anything exists.
	saved := p.deps
	p.deps = nil
	e, err := p.computeEntity(name, at, path)
	p.deps = saved
	if err != nil {
		return nil, err
	}
	p.entities[name] = e
	return e, nil
}

func (p *planner) computeEntity(name string, at *node, path string) (*entity, error) {
	if id, prop, ok := strings.Cut(name, "."); ok {
		r := p.t.byID[id]
		if r == nil && p.implicit[id] && prop == "Stage" {
			return &entity{owner: id, ref: map[bool]string{true: "Prod", false: gateway.DefaultStage}[id == ImplicitRestAPI]}, nil
		}
		if r == nil {
			return nil, errNode(at, path, "no resource named %q", id)
		}
		if !p.enabled[id] {
			return nil, errNode(at, path, "%s is not created (its condition %s is false)", id, r.condition)
		}
		switch {
		case r.typ == TypeFunction && prop == "Alias":
			alias, err := p.aliasName(r)
			if err != nil {
				return nil, err
			}
			if alias == "" {
				return nil, errNode(at, path, "%s has no AutoPublishAlias", id)
			}
			fe, err := p.entity(id, at, path)
			if err != nil {
				return nil, err
			}
			return &entity{owner: id, ref: fe.attrs["Arn"] + ":" + alias}, nil
		case r.typ == TypeFunction && prop == "Version":
			return nil, errNode(at, path, "a function's version number is known only when it is deployed; refer to %s.Alias", id)
		case (r.typ == TypeHttpAPI || r.typ == TypeRestAPI) && prop == "Stage":
			stage, err := p.stageName(r)
			if err != nil {
				return nil, err
			}
			return &entity{owner: id, ref: stage}, nil
		}
		return nil, errNode(at, path, "%s cannot be referred to (nimbus knows %s.Alias and an API's .Stage)", name, id)
	}
	if r := p.t.byID[name]; r != nil {
		if !p.enabled[name] {
			return nil, errNode(at, path, "%s is not created (its condition %s is false)", name, r.condition)
		}
		return p.resourceEntity(r)
	}
	if p.implicit[name] {
		return apiEntity(name, APIID(p.opts.Stack, name)), nil
	}
	if g, ok := p.generated(name); ok {
		pn := p.opts.Stack + "-" + name
		if g.topic {
			arn := topicARN(pn)
			return &entity{owner: name, ref: arn, attrs: map[string]string{"TopicArn": arn, "TopicName": pn}}, nil
		}
		return p.queueEntity(name, pn), nil
	}
	if fn, ok := strings.CutSuffix(name, "Role"); ok {
		if r := p.t.byID[fn]; r != nil && r.typ == TypeFunction && p.enabled[fn] && p.props[fn].get("Role") == nil {
			pn := p.opts.Stack + "-" + name
			return &entity{owner: fn, ref: pn, attrs: map[string]string{"Arn": roleARN(pn)}}, nil
		}
	}
	for _, r := range p.t.resources {
		rest, ok := strings.CutPrefix(name, r.id+"Alias")
		if !ok || r.typ != TypeFunction || !p.enabled[r.id] {
			continue
		}
		if alias, err := p.aliasName(r); err == nil && alias != "" && alnum(alias) == rest {
			fe, err := p.entity(r.id, at, path)
			if err != nil {
				return nil, err
			}
			return &entity{owner: r.id, ref: fe.attrs["Arn"] + ":" + alias}, nil
		}
	}
	return nil, errNode(at, path, "no parameter or resource named %q", name)
}

func alnum(s string) string {
	var b strings.Builder
	for _, c := range s {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func apiEntity(id, apiID string) *entity {
	return &entity{owner: id, ref: apiID, attrs: map[string]string{
		"ApiId":       apiID,
		"ApiEndpoint": "https://" + apiID + ".execute-api." + Region + "." + URLSuffix,
	}}
}

func (p *planner) queueEntity(id, name string) *entity {
	url := p.opts.Endpoint + "/" + AccountID + "/" + name
	return &entity{owner: id, ref: url, attrs: map[string]string{"Arn": queueARN(name), "QueueName": name, "QueueUrl": url}}
}

func (p *planner) resourceEntity(r *resource) (*entity, error) {
	switch r.typ {
	case TypeFunction:
		name, err := p.physicalName(r, "FunctionName")
		if err != nil {
			return nil, err
		}
		return &entity{owner: r.id, ref: name, attrs: map[string]string{"Arn": functionARN(name)}}, nil
	case TypeQueue:
		name, err := p.physicalName(r, "QueueName")
		if err != nil {
			return nil, err
		}
		return p.queueEntity(r.id, name), nil
	case TypeTopic:
		name, err := p.physicalName(r, "TopicName")
		if err != nil {
			return nil, err
		}
		arn := topicARN(name)
		return &entity{owner: r.id, ref: arn, attrs: map[string]string{"TopicArn": arn, "TopicName": name}}, nil
	case TypeStateMachine:
		name, err := p.physicalName(r, "Name")
		if err != nil {
			return nil, err
		}
		arn := stateMachineARN(name)
		return &entity{owner: r.id, ref: arn, attrs: map[string]string{"Arn": arn, "Name": name}}, nil
	case TypeHttpAPI, TypeRestAPI:
		return apiEntity(r.id, APIID(p.opts.Stack, r.id)), nil
	case "AWS::IAM::Role":
		name, err := p.physicalName(r, "RoleName")
		if err != nil {
			return nil, err
		}
		return &entity{owner: r.id, ref: name, attrs: map[string]string{"Arn": roleARN(name)}}, nil
	}
	return &entity{owner: r.id, ref: p.opts.Stack + "-" + r.id, placeholder: true}, nil
}

// physicalName is the resource's explicit name property, else <stack>-<id>.
func (p *planner) physicalName(r *resource, prop string) (string, error) {
	n := p.props[r.id].get(prop)
	if n == nil {
		return p.opts.Stack + "-" + r.id, nil
	}
	path := "Resources." + r.id + ".Properties." + prop
	s, v, err := p.resolveString(n, path)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", errNode(v, path, "must not be empty")
	}
	return s, nil
}

// aliasName is a function's AutoPublishAlias ("" when none).
func (p *planner) aliasName(r *resource) (string, error) {
	n := p.props[r.id].get("AutoPublishAlias")
	if n == nil {
		return "", nil
	}
	saved := p.deps
	p.deps = nil
	defer func() { p.deps = saved }()
	s, _, err := p.resolveString(n, "Resources."+r.id+".Properties.AutoPublishAlias")
	return s, err
}

// stageName is an API's stage: StageName, else SAM's default.
func (p *planner) stageName(r *resource) (string, error) {
	if n := p.props[r.id].get("StageName"); n != nil {
		saved := p.deps
		p.deps = nil
		defer func() { p.deps = saved }()
		s, _, err := p.resolveString(n, "Resources."+r.id+".Properties.StageName")
		return s, err
	}
	if r.typ == TypeRestAPI {
		return "", errAt(r.line, "Resources."+r.id+".Properties.StageName", "an AWS::Serverless::Api needs a StageName")
	}
	return "$default", nil
}

// generated reports whether id names a queue or topic a function's
// properties make SAM generate (SNS events with SqsSubscription: true,
// EventInvokeConfig destinations without a Destination).
func (p *planner) generated(id string) (generated, bool) {
	for _, r := range p.t.resources {
		if r.typ != TypeFunction || !p.enabled[r.id] || !strings.HasPrefix(id, r.id) {
			continue
		}
		props := p.props[r.id]
		if events := props.get("Events"); events != nil && events.kind == kMap {
			for i, ev := range events.keys {
				e := events.vals[i]
				if id == r.id+ev+"Queue" && literal(e.get("Type")) == "SNS" && literal(e.get("Properties").get("SqsSubscription")) == "true" {
					return generated{function: r.id}, true
				}
			}
		}
		dc := props.get("EventInvokeConfig").get("DestinationConfig")
		for _, which := range []string{"OnSuccess", "OnFailure"} {
			d := dc.get(which)
			if d == nil || d.get("Destination") != nil {
				continue
			}
			switch literal(d.get("Type")) {
			case "SQS":
				if id == r.id+"EventInvokeConfig"+which+"Queue" {
					return generated{function: r.id}, true
				}
			case "SNS":
				if id == r.id+"EventInvokeConfig"+which+"Topic" {
					return generated{function: r.id, topic: true}, true
				}
			}
		}
	}
	return generated{}, false
}

// literal is a scalar's text, "" for anything else.
func literal(n *node) string {
	if n.isScalar() {
		return n.text
	}
	return ""
}

// scanEvents notes the implicit APIs a function's events need.
func (p *planner) scanEvents(r *resource) {
	events := p.props[r.id].get("Events")
	if events == nil || events.kind != kMap {
		return
	}
	for _, e := range events.vals {
		props := e.get("Properties")
		switch literal(e.get("Type")) {
		case "HttpApi":
			if props.get("ApiId") == nil {
				p.implicit[ImplicitHTTPAPI] = true
			}
		case "Api":
			if props.get("RestApiId") == nil {
				p.implicit[ImplicitRestAPI] = true
			}
		}
	}
}
