package template

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

// route is a function event that adds a route to an API.
type route struct {
	api        string // the API's logical id
	rest       bool
	r          gateway.Route
	authorizer *string // nil: the API's default; "NONE": none
	apiKey     *bool   // REST: nil means the API's ApiKeyRequired
	throttled  bool    // the event's RouteSettings set limits
	function   string  // logical id
	path       string  // of the event, for errors
	line       int
}

var (
	rateRE       = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)
	cronRE       = regexp.MustCompile(`^cron\(([^()]*)\)$`)
	atRE         = regexp.MustCompile(`^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$`)
	ruleNameRE   = regexp.MustCompile(`^[.\-_A-Za-z0-9]{1,64}$`)
	queueNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,80}$`)
	topicNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,256}$`)
	queueARNRE   = regexp.MustCompile(`^arn:aws:sqs:[a-z0-9-]+:\d{12}:([a-zA-Z0-9_-]{1,80})$`)
	topicARNRE   = regexp.MustCompile(`^arn:aws:sns:[a-z0-9-]+:\d{12}:([a-zA-Z0-9_-]{1,256})$`)
	functionARNs = regexp.MustCompile(`^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]{1,64}(:[a-zA-Z0-9$_-]+)?$`)
)

// events plans a function's Events.
func (p *planner) events(r *resource, f *Function, events *node) {
	if events == nil || events.kind == kNull {
		return
	}
	base := "Resources." + r.id + ".Properties.Events"
	if events.kind != kMap {
		p.errs.add(errNode(events, base, "must be a map of events"))
		return
	}
	target := functionARN(f.Qualified())
	for i, name := range events.keys {
		ev, path := events.vals[i], join(base, name)
		if !logicalIDRE.MatchString(name) {
			p.errs.add(errNode(ev, path, "event names must be letters and digits"))
			continue
		}
		if ev.kind != kMap || ev.get("Type") == nil || ev.get("Type").kind != kString {
			p.errs.add(errNode(ev, path, "an event needs a Type"))
			continue
		}
		for j, k := range ev.keys {
			if k != "Type" && k != "Properties" {
				p.errs.add(errNode(ev.vals[j], join(path, k), "not an event attribute (Type, Properties)"))
			}
		}
		typ := ev.get("Type").text
		deps := map[string]bool{r.id: true}
		props := p.resolveProps(ev.get("Properties"), path+".Properties", deps)
		if props == nil {
			continue
		}
		rd := p.reader(props, path+".Properties")
		id := r.id + name
		switch typ {
		case "HttpApi":
			p.httpRoute(r, f, rd, ev)
		case "Api":
			p.restRoute(r, f, rd, ev)
		case "Schedule", "ScheduleV2":
			p.scheduleEvent(id, typ, rd, target, deps)
		case "SQS":
			if m := p.sqsMapping(rd, f); m != nil {
				p.add(Resource{LogicalID: id, Type: TypeEventSourceMapping, DependsOn: sortedKeys(deps), EventSourceMapping: m})
			}
		case "SNS":
			p.snsEvent(r, id, rd, f, deps)
		default:
			p.unsupported(id, "event:"+typ, "event type not supported yet")
			p.warnf("%s: %s events are not supported yet; not deployed", path, typ)
			continue
		}
		rd.rest(r.id, map[string]string{"RouteSettings": "", "KmsKeyArn": "KMS keys are not used", "Description": "", "RoleArn": iamNote, "PermissionsBoundary": iamNote, "MetricsConfig": "metrics are nimbus's own"})
	}
}

func (p *planner) httpRoute(r *resource, f *Function, rd *reader, ev *node) {
	rt := &route{api: ImplicitHTTPAPI, function: r.id, path: rd.path, line: ev.line}
	if rd.has("ApiId") {
		rt.api = p.apiByID(rd, "ApiId", TypeHttpAPI)
	}
	path, method := rd.str("Path"), rd.str("Method")
	switch {
	case path == "" || path == "$default":
		rt.r.Key = "$default"
	case !strings.HasPrefix(path, "/"):
		rd.fail(rd.n.get("Path"), "Path", "must start with /")
	default:
		rt.r.Key = httpMethod(method) + " " + path
	}
	rt.r.Integration = gateway.Integration{
		Function:      f.Qualified(),
		PayloadFormat: rd.oneOf("PayloadFormatVersion", gateway.PayloadV2, gateway.PayloadV1, gateway.PayloadV2),
		TimeoutMillis: rd.integer("TimeoutInMillis", 0, 50, 30000),
	}
	if rd.has("Auth") {
		a := rd.sub("Auth")
		if a.has("Authorizer") {
			s := a.str("Authorizer")
			rt.authorizer = &s
		}
		rt.r.Scopes = a.strs("AuthorizationScopes")
		a.rest(r.id, nil)
	}
	rt.throttled = eventThrottle(&rt.r, rd, r.id)
	p.routes = append(p.routes, rt)
}

func (p *planner) restRoute(r *resource, f *Function, rd *reader, ev *node) {
	rt := &route{api: ImplicitRestAPI, rest: true, function: r.id, path: rd.path, line: ev.line}
	if rd.has("RestApiId") {
		rt.api = p.apiByID(rd, "RestApiId", TypeRestAPI)
	}
	path, method := rd.required("Path"), rd.required("Method")
	if path != "" && !strings.HasPrefix(path, "/") {
		rd.fail(rd.n.get("Path"), "Path", "must start with /")
	}
	rt.r.Key = httpMethod(method) + " " + path
	rt.r.Integration = gateway.Integration{Function: f.Qualified(), TimeoutMillis: rd.integer("TimeoutInMillis", 0, 50, 29000)}
	if rd.has("Auth") {
		a := rd.sub("Auth")
		if a.has("Authorizer") {
			s := a.str("Authorizer")
			rt.authorizer = &s
		}
		if a.has("ApiKeyRequired") {
			b := a.boolean("ApiKeyRequired", false)
			rt.apiKey = &b
		}
		a.rest(r.id, nil)
	}
	p.routes = append(p.routes, rt)
}

func httpMethod(m string) string {
	m = strings.ToUpper(m)
	if m == "" || m == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
		return "ANY"
	}
	return m
}

// apiByID finds the API resource an event's ApiId/RestApiId (a Ref,
// resolved to the API's id) names.
func (p *planner) apiByID(rd *reader, key, typ string) string {
	id := rd.str(key)
	for _, r := range p.t.resources {
		if r.typ == typ && p.enabled[r.id] && APIID(p.opts.Stack, r.id) == id {
			return r.id
		}
	}
	rd.fail(rd.n.get(key), key, "must be a Ref to an %s in this template", typ)
	return ""
}

// scheduleEvent plans a Schedule (an EventBridge rule) or ScheduleV2 (an
// EventBridge Scheduler schedule) event that invokes target.
func (p *planner) scheduleEvent(id, typ string, rd *reader, target string, deps map[string]bool) {
	s := p.schedule(id, typ, rd, target)
	t := TypeRule
	if typ == "ScheduleV2" {
		t = TypeSchedule
	}
	p.add(Resource{LogicalID: id, Type: t, DependsOn: sortedKeys(deps), Schedule: s})
}

func (p *planner) schedule(id, typ string, rd *reader, target string) *Schedule {
	s := &Schedule{Target: target, Enabled: true}
	exprKey := "ScheduleExpression"
	if typ == "Schedule" {
		exprKey = "Schedule"
	}
	s.Expression = rd.required(exprKey)
	if typ == "Schedule" {
		s.Enabled = rd.boolean("Enabled", true)
	} else {
		s.Timezone = rd.str("ScheduleExpressionTimezone")
		if rd.has("FlexibleTimeWindow") {
			rd.node("FlexibleTimeWindow")
			p.note("FlexibleTimeWindow: schedules run on time; ignored", id)
		}
	}
	if rd.has("State") {
		s.Enabled = rd.oneOf("State", "ENABLED", "ENABLED", "DISABLED") == "ENABLED"
	}
	if s.Expression != "" {
		if err := checkSchedule(s.Expression, typ == "ScheduleV2"); err != "" {
			rd.fail(rd.n.get(exprKey), exprKey, "%s", err)
		}
	}
	s.Input = rd.str("Input")
	if s.Input != "" && !json.Valid([]byte(s.Input)) {
		rd.fail(rd.n.get("Input"), "Input", "must be JSON")
	}
	s.Name = rd.str("Name")
	if s.Name == "" {
		s.Name = p.opts.Stack + "-" + id
	}
	if !ruleNameRE.MatchString(s.Name) {
		rd.fail(rd.n.get("Name"), "Name", "schedule name %q must be 1-64 letters, digits, '.', '-' or '_'%s", s.Name, map[bool]string{true: "", false: " (set Name)"}[rd.has("Name")])
	}
	return s
}

// checkSchedule checks the shape of a schedule expression; "" means valid.
func checkSchedule(expr string, v2 bool) string {
	if m := rateRE.FindStringSubmatch(expr); m != nil {
		n, err := strconv.Atoi(m[1])
		switch {
		case err != nil || n < 1:
			return "the rate must be a positive whole number"
		case n == 1 && strings.HasSuffix(m[2], "s"):
			return "a rate of 1 takes a singular unit (rate(1 " + strings.TrimSuffix(m[2], "s") + "))"
		case n > 1 && !strings.HasSuffix(m[2], "s"):
			return "a rate above 1 takes a plural unit (rate(" + m[1] + " " + m[2] + "s))"
		}
		return ""
	}
	if m := cronRE.FindStringSubmatch(expr); m != nil {
		f := strings.Fields(m[1])
		if len(f) != 6 {
			return "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year)"
		}
		if (f[2] == "?") == (f[4] == "?") {
			return "exactly one of day-of-month and day-of-week must be ?"
		}
		return ""
	}
	if v2 && atRE.MatchString(expr) {
		return ""
	}
	if v2 {
		return "must be rate(…), cron(…) or at(yyyy-mm-ddThh:mm:ss)"
	}
	return "must be rate(…) or cron(…)"
}

func (p *planner) sqsMapping(rd *reader, f *Function) *EventSourceMapping {
	m := &EventSourceMapping{FunctionName: f.Qualified(), EventSourceARN: rd.required("Queue")}
	if m.EventSourceARN != "" && !queueARNRE.MatchString(m.EventSourceARN) {
		rd.fail(rd.n.get("Queue"), "Queue", "must be an SQS queue ARN (!GetAtt Queue.Arn), not %q", m.EventSourceARN)
	}
	m.BatchSize = rd.integer("BatchSize", 10, 1, 10000)
	m.MaximumBatchingWindowInSeconds = rd.integer("MaximumBatchingWindowInSeconds", 0, 0, 300)
	if m.BatchSize > 10 && m.MaximumBatchingWindowInSeconds == 0 {
		rd.fail(rd.n.get("BatchSize"), "BatchSize", "a batch size above 10 needs MaximumBatchingWindowInSeconds of at least 1")
	}
	m.FunctionResponseTypes = rd.strs("FunctionResponseTypes")
	for _, t := range m.FunctionResponseTypes {
		if t != "ReportBatchItemFailures" {
			rd.fail(rd.n.get("FunctionResponseTypes"), "FunctionResponseTypes", "only ReportBatchItemFailures is allowed, not %q", t)
		}
	}
	if rd.has("ScalingConfig") {
		sc := rd.sub("ScalingConfig")
		m.MaximumConcurrency = sc.integer("MaximumConcurrency", 0, 2, 1000)
		sc.rest(f.Name, nil)
	}
	m.Enabled = rd.boolean("Enabled", true)
	if rd.has("FilterCriteria") {
		fc := rd.sub("FilterCriteria")
		if n := fc.node("Filters"); n != nil {
			if n.kind != kList {
				fc.fail(n, "Filters", "must be a list of {Pattern: …}")
			} else {
				for i, e := range n.items {
					pat := e.get("Pattern")
					switch {
					case pat == nil:
						p.errs.add(errNode(e, index(fc.at("Filters"), i), "needs a Pattern"))
					case pat.kind == kMap:
						m.FilterPatterns = append(m.FilterPatterns, string(pat.toJSON()))
					case pat.kind == kString && json.Valid([]byte(pat.text)):
						m.FilterPatterns = append(m.FilterPatterns, pat.text)
					default:
						p.errs.add(errNode(pat, index(fc.at("Filters"), i)+".Pattern", "must be a JSON pattern"))
					}
				}
			}
		}
		fc.rest(f.Name, nil)
	}
	return m
}

func (p *planner) snsEvent(r *resource, id string, rd *reader, f *Function, deps map[string]bool) {
	sub := &Subscription{TopicARN: rd.required("Topic"), Protocol: "lambda", Endpoint: functionARN(f.Qualified())}
	if sub.TopicARN != "" && !topicARNRE.MatchString(sub.TopicARN) {
		rd.fail(rd.n.get("Topic"), "Topic", "must be an SNS topic ARN (!Ref Topic), not %q", sub.TopicARN)
	}
	sub.FilterPolicy = filterPolicy(rd)
	sub.FilterPolicyScope = rd.oneOf("FilterPolicyScope", "", "MessageAttributes", "MessageBody")
	if rd.has("Region") {
		rd.node("Region")
		p.note("Region: nimbus has one region; ignored", r.id)
	}
	sq := rd.node("SqsSubscription")
	if sq == nil || (sq.isScalar() && strings.EqualFold(sq.text, "false")) {
		p.add(Resource{LogicalID: id, Type: TypeSubscription, DependsOn: sortedKeys(deps), Subscription: sub})
		return
	}
	// Through a queue: topic → queue → event source mapping → function.
	m := &EventSourceMapping{FunctionName: f.Qualified(), BatchSize: 10, Enabled: true}
	switch {
	case sq.isScalar() && strings.EqualFold(sq.text, "true"):
		qid := id + "Queue"
		e, err := p.entity(qid, sq, rd.at("SqsSubscription"))
		if err != nil {
			p.errs.add(err)
			return
		}
		p.add(Resource{LogicalID: qid, Type: TypeQueue, Queue: defaultQueue(e)})
		m.EventSourceARN = e.attrs["Arn"]
		deps[qid] = true
	case sq.kind == kMap:
		s := rd.sub("SqsSubscription")
		m.EventSourceARN = s.required("QueueArn")
		if m.EventSourceARN != "" && !queueARNRE.MatchString(m.EventSourceARN) {
			s.fail(s.n.get("QueueArn"), "QueueArn", "must be an SQS queue ARN, not %q", m.EventSourceARN)
		}
		m.BatchSize = s.integer("BatchSize", 10, 1, 10)
		m.Enabled = s.boolean("Enabled", true)
		s.str("QueueUrl")
		s.rest(r.id, map[string]string{"QueuePolicyLogicalId": iamNote})
	default:
		rd.fail(sq, "SqsSubscription", "must be true or {QueueArn, …}")
		return
	}
	sub.Protocol, sub.Endpoint = "sqs", m.EventSourceARN
	p.add(Resource{LogicalID: id, Type: TypeSubscription, DependsOn: sortedKeys(deps), Subscription: sub})
	p.add(Resource{LogicalID: id + "EventSourceMapping", Type: TypeEventSourceMapping, DependsOn: sortedKeys(deps), EventSourceMapping: m})
}

func filterPolicy(rd *reader) json.RawMessage {
	n := rd.node("FilterPolicy")
	switch {
	case n == nil:
		return nil
	case n.kind == kMap:
		return n.toJSON()
	case n.kind == kString && json.Valid([]byte(n.text)):
		return json.RawMessage(n.text)
	}
	rd.fail(n, "FilterPolicy", "must be a map (a JSON filter policy)")
	return nil
}

func defaultQueue(e *entity) *Queue {
	return &Queue{
		Name: e.attrs["QueueName"], ARN: e.attrs["Arn"], URL: e.attrs["QueueUrl"],
		VisibilityTimeout: 30, MessageRetentionPeriod: 345600, MaximumMessageSize: 262144,
	}
}
