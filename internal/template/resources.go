package template

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var queueNotes = map[string]string{
	"Tags": "tags are not kept", "KmsMasterKeyId": "queues are not KMS-encrypted",
	"KmsDataKeyReusePeriodSeconds": "queues are not KMS-encrypted", "SqsManagedSseEnabled": "",
	"RedriveAllowPolicy": "any queue may use a dead-letter queue",
}

func (p *planner) queue(r *resource) {
	base := "Resources." + r.id + ".Properties"
	deps := dependsOn(r)
	props := p.resolveProps(p.props[r.id], base, deps)
	if props == nil {
		return
	}
	e, err := p.entity(r.id, p.props[r.id], base)
	if err != nil {
		p.errs.add(err)
		return
	}
	rd := p.reader(props, base)
	q := defaultQueue(e)
	if rd.boolean("FifoQueue", false) || strings.HasSuffix(q.Name, ".fifo") {
		p.errs.add(errAt(r.line, base+".FifoQueue", "FIFO queues are not supported yet"))
		return
	}
	if !queueNameRE.MatchString(q.Name) {
		p.errs.add(errAt(r.line, base+".QueueName", "queue name %q must be 1-80 letters, digits, '-' or '_'%s", q.Name, nameHint(p.props[r.id], "QueueName")))
	}
	for _, k := range []string{"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"} {
		if rd.node(k) != nil {
			rd.fail(rd.n.get(k), k, "applies only to FIFO queues, which are not supported yet")
		}
	}
	rd.str("QueueName")
	q.VisibilityTimeout = rd.integer("VisibilityTimeout", 30, 0, 43200)
	q.MessageRetentionPeriod = rd.integer("MessageRetentionPeriod", 345600, 60, 1209600)
	q.DelaySeconds = rd.integer("DelaySeconds", 0, 0, 900)
	q.ReceiveMessageWaitTimeSeconds = rd.integer("ReceiveMessageWaitTimeSeconds", 0, 0, 20)
	q.MaximumMessageSize = rd.integer("MaximumMessageSize", 262144, 1024, 1<<20)
	if n := rd.node("RedrivePolicy"); n != nil {
		q.RedrivePolicy = redrivePolicy(rd, n)
	}
	rd.rest(r.id, queueNotes)
	p.add(Resource{LogicalID: r.id, Type: r.typ, DependsOn: sortedKeys(deps), Queue: q})
}

// redrivePolicy reads a RedrivePolicy: a map or a JSON string, with
// deadLetterTargetArn and maxReceiveCount.
func redrivePolicy(rd *reader, n *node) *RedrivePolicy {
	if n.kind == kString {
		var c converter
		var y yaml.Node
		if err := yaml.Unmarshal([]byte(n.text), &y); err == nil && len(y.Content) == 1 {
			if m, err := c.convert(y.Content[0], rd.at("RedrivePolicy")); err == nil {
				m.line = n.line
				n = m
			}
		}
	}
	if n.kind != kMap {
		rd.fail(n, "RedrivePolicy", "must be {deadLetterTargetArn, maxReceiveCount}")
		return nil
	}
	rp := &reader{p: rd.p, n: n, path: rd.at("RedrivePolicy"), used: map[string]bool{}}
	out := &RedrivePolicy{DeadLetterTargetARN: rp.required("deadLetterTargetArn"), MaxReceiveCount: rp.integer("maxReceiveCount", 10, 1, 1000)}
	if !rp.has("maxReceiveCount") {
		rp.fail(nil, "maxReceiveCount", "is required")
	}
	if out.DeadLetterTargetARN != "" && !queueARNRE.MatchString(out.DeadLetterTargetARN) {
		rp.fail(rp.n.get("deadLetterTargetArn"), "deadLetterTargetArn", "must be an SQS queue ARN (!GetAtt DLQ.Arn), not %q", out.DeadLetterTargetARN)
	}
	rp.rest("", nil)
	return out
}

func (p *planner) topic(r *resource) {
	base := "Resources." + r.id + ".Properties"
	deps := dependsOn(r)
	raw := p.props[r.id]
	props := p.resolveProps(raw, base, deps, "Subscription")
	if props == nil {
		return
	}
	e, err := p.entity(r.id, raw, base)
	if err != nil {
		p.errs.add(err)
		return
	}
	rd := p.reader(props, base)
	t := &Topic{Name: e.attrs["TopicName"], ARN: e.attrs["TopicArn"]}
	if rd.boolean("FifoTopic", false) || strings.HasSuffix(t.Name, ".fifo") {
		p.errs.add(errAt(r.line, base+".FifoTopic", "FIFO topics are not supported yet"))
		return
	}
	if !topicNameRE.MatchString(t.Name) {
		p.errs.add(errAt(r.line, base+".TopicName", "topic name %q must be 1-256 letters, digits, '-' or '_'", t.Name))
	}
	rd.str("TopicName")
	rd.rest(r.id, map[string]string{"Tags": "tags are not kept", "DisplayName": "", "KmsMasterKeyId": "topics are not KMS-encrypted", "TracingConfig": ""})
	p.add(Resource{LogicalID: r.id, Type: r.typ, DependsOn: sortedKeys(deps), Topic: t})
	// Inline subscriptions are resources of their own, after what they deliver to.
	subs := raw.get("Subscription")
	if subs == nil {
		return
	}
	path := base + ".Subscription"
	if subs.kind != kList {
		p.errs.add(errNode(subs, path, "must be a list of {Endpoint, Protocol}"))
		return
	}
	for i, s := range subs.items {
		spath := index(path, i)
		sdeps := map[string]bool{r.id: true}
		resolved := p.resolveProps(s, spath, sdeps)
		if resolved == nil {
			continue
		}
		sr := p.reader(resolved, spath)
		sub := &Subscription{TopicARN: t.ARN, Protocol: sr.required("Protocol"), Endpoint: sr.required("Endpoint")}
		sr.rest(r.id, nil)
		id := r.id + "Subscription" + strconv.Itoa(i+1)
		switch sub.Protocol {
		case "lambda":
			if !functionARNs.MatchString(sub.Endpoint) {
				sr.fail(resolved.get("Endpoint"), "Endpoint", "must be a function ARN (!GetAtt Function.Arn), not %q", sub.Endpoint)
			}
		case "sqs":
			if !queueARNRE.MatchString(sub.Endpoint) {
				sr.fail(resolved.get("Endpoint"), "Endpoint", "must be a queue ARN (!GetAtt Queue.Arn), not %q", sub.Endpoint)
			}
		case "":
			continue
		default:
			p.unsupported(id, TypeSubscription, sub.Protocol+" subscriptions are not supported yet")
			p.warnf("%s: %s subscriptions are not supported yet; not deployed", spath, sub.Protocol)
			continue
		}
		p.add(Resource{LogicalID: id, Type: TypeSubscription, DependsOn: sortedKeys(sdeps), Subscription: sub})
	}
}

var stateMachineNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,80}$`)

var stateMachineNotes = map[string]string{
	"Logging": "execution history is nimbus's own", "Tracing": "X-Ray tracing is not available",
	"Tags": "tags are not kept", "PropagateTags": "tags are not kept", "RolePath": iamNote,
	"PermissionsBoundary": iamNote,
}

func (p *planner) stateMachine(r *resource) {
	base := "Resources." + r.id + ".Properties"
	deps := dependsOn(r)
	raw := p.props[r.id]
	props := p.resolveProps(raw, base, deps, "Events", "Policies", "Role")
	if props == nil {
		return
	}
	for _, k := range []string{"Policies", "Role"} {
		if raw.get(k) != nil {
			p.note(k+": "+iamNote+"; ignored", r.id)
		}
	}
	e, err := p.entity(r.id, raw, base)
	if err != nil {
		p.errs.add(err)
		return
	}
	rd := p.reader(props, base)
	rd.str("Name")
	sm := &StateMachine{Name: e.attrs["Name"], ARN: e.attrs["Arn"]}
	if !stateMachineNameRE.MatchString(sm.Name) {
		p.errs.add(errAt(r.line, base+".Name", "state machine name %q must be 1-80 letters, digits, '-' or '_'%s", sm.Name, nameHint(raw, "Name")))
	}
	sm.Type = rd.oneOf("Type", "STANDARD", "STANDARD", "EXPRESS")
	subs := p.stringMap(rd, "DefinitionSubstitutions")
	def, uri := rd.node("Definition"), rd.node("DefinitionUri")
	var text []byte
	switch {
	case def != nil && uri != nil:
		rd.fail(uri, "DefinitionUri", "only one of Definition and DefinitionUri may be set")
	case def != nil:
		if def.kind != kMap {
			rd.fail(def, "Definition", "must be a map (the state machine's ASL)")
			break
		}
		text = def.toJSON()
	case uri != nil:
		text = p.definitionFile(rd, uri)
	default:
		rd.fail(nil, "Definition", "Definition or DefinitionUri is required")
	}
	if text != nil {
		sm.Definition = substitute(rd, text, subs, def != nil)
	}
	for _, k := range []string{"AutoPublishAlias", "DeploymentPreference", "UseAliasAsEventTarget"} {
		if rd.node(k) != nil {
			p.warnf("%s: state machine versions and aliases are not supported yet; ignored", rd.at(k))
		}
	}
	rd.rest(r.id, stateMachineNotes)
	p.add(Resource{LogicalID: r.id, Type: r.typ, DependsOn: sortedKeys(deps), StateMachine: sm})
	p.stateMachineEvents(r, sm, raw.get("Events"))
}

// definitionFile reads DefinitionUri (relative to the template) as JSON or YAML text.
func (p *planner) definitionFile(rd *reader, uri *node) []byte {
	if uri.kind == kMap || strings.HasPrefix(literal(uri), "s3://") {
		rd.fail(uri, "DefinitionUri", "definitions in S3 are not supported; point DefinitionUri at a file next to the template")
		return nil
	}
	name := rd.str("DefinitionUri")
	if name == "" {
		return nil
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(p.dir, filepath.FromSlash(name))
	}
	fi, err := os.Stat(name)
	if err != nil || !fi.Mode().IsRegular() {
		rd.fail(uri, "DefinitionUri", "%s is not a readable file", name)
		return nil
	}
	if fi.Size() > MaxTemplateBytes {
		rd.fail(uri, "DefinitionUri", "%s is larger than %d bytes", name, MaxTemplateBytes)
		return nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		rd.fail(uri, "DefinitionUri", "%v", err)
		return nil
	}
	return b
}

// substitute applies DefinitionSubstitutions to the definition's text, as
// CloudFormation does (textually, ${Name} → value), and returns it as compact
// JSON. A DefinitionUri file may be YAML.
func substitute(rd *reader, text []byte, subs map[string]string, inline bool) json.RawMessage {
	key := "DefinitionUri"
	if inline {
		key = "Definition"
	}
	s := substituteText(string(text), subs)
	var y yaml.Node
	if err := decodeYAML([]byte(s), &y); err != nil || len(y.Content) == 0 {
		rd.fail(rd.n.get(key), key, "the definition is not valid JSON or YAML (after DefinitionSubstitutions): %v", err)
		return nil
	}
	var c converter
	n, err := c.convert(y.Content[0], rd.at(key))
	if err != nil {
		rd.fail(rd.n.get(key), key, "%v", err)
		return nil
	}
	if n.kind != kMap {
		rd.fail(rd.n.get(key), key, "the definition must be a JSON object")
		return nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, n.toJSON()); err != nil {
		rd.fail(rd.n.get(key), key, "%v", err)
		return nil
	}
	return out.Bytes()
}

func (p *planner) stateMachineEvents(r *resource, sm *StateMachine, events *node) {
	if events == nil || events.kind == kNull {
		return
	}
	base := "Resources." + r.id + ".Properties.Events"
	if events.kind != kMap {
		p.errs.add(errNode(events, base, "must be a map of events"))
		return
	}
	for i, name := range events.keys {
		ev, path := events.vals[i], join(base, name)
		if !logicalIDRE.MatchString(name) || ev.kind != kMap || ev.get("Type") == nil || ev.get("Type").kind != kString {
			p.errs.add(errNode(ev, path, "an event needs a letters-and-digits name and a Type"))
			continue
		}
		typ, id := ev.get("Type").text, r.id+name
		if typ != "Schedule" && typ != "ScheduleV2" {
			p.unsupported(id, "event:"+typ, "state machine event type not supported yet")
			p.warnf("%s: %s events of state machines are not supported yet; not deployed", path, typ)
			continue
		}
		deps := map[string]bool{r.id: true}
		props := p.resolveProps(ev.get("Properties"), path+".Properties", deps)
		if props == nil {
			continue
		}
		rd := p.reader(props, path+".Properties")
		p.scheduleEvent(id, typ, rd, sm.ARN, deps)
		rd.rest(r.id, map[string]string{"Description": "", "RoleArn": iamNote})
	}
}

// substituteText replaces every ${Name} whose Name is in subs, in one pass.
func substituteText(s string, subs map[string]string) string {
	if len(subs) == 0 {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		if v, ok := subs[s[i+2:i+j]]; ok {
			b.WriteString(s[:i])
			b.WriteString(v)
		} else {
			b.WriteString(s[:i+j+1])
		}
		s = s[i+j+1:]
	}
}
