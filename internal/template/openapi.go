package template

import (
	"regexp"
	"sort"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

// OpenAPI definitions of HTTP APIs (DefinitionBody, intrinsics resolved).
// nimbus reads the routes of its paths: each operation (get, post, …, and
// x-amazon-apigateway-any-method; the path /$default is the $default route)
// whose x-amazon-apigateway-integration is of type aws_proxy becomes a route:
//
//   - with an integrationSubtype (SQS-SendMessage, SNS-Publish,
//     StepFunctions-StartExecution, StepFunctions-StartSyncExecution), a
//     service integration whose parameters are requestParameters;
//     credentials are ignored (IAM is not enforced);
//   - without one, a Lambda proxy integration of the function its uri names
//     (arn:aws:apigateway:…:lambda:path/2015-03-31/functions/<function ARN>/invocations,
//     or the function ARN), with payloadFormatVersion and timeoutInMillis.
//
// These routes are the API's like the events' (DefaultAuthorizer, the
// throttling settings apply; an event declaring the same route is an error).
// Operations with other integrations are not deployed, with a warning;
// documentation (info, summary, parameters, responses, components) is
// ignored; any other extension is reported as not supported. A security
// requirement is refused (nimbus would serve the route unprotected): declare
// authorizers in Auth; `security: []` on an operation means no authorizer.

var (
	openAPIMethods = map[string]string{"get": "GET", "put": "PUT", "post": "POST", "delete": "DELETE", "options": "OPTIONS",
		"head": "HEAD", "patch": "PATCH", "x-amazon-apigateway-any-method": "ANY"}
	openAPIDocs = map[string]bool{"openapi": true, "swagger": true, "info": true, "tags": true, "externalDocs": true, "components": true,
		"summary": true, "description": true, "parameters": true, "servers": true, "operationId": true, "requestBody": true,
		"responses": true, "deprecated": true, "definitions": true, "securityDefinitions": true}
	lambdaURIRE = regexp.MustCompile(`^arn:aws:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(.+)/invocations$`)
)

// openAPI adds the routes of an HTTP API's DefinitionBody.
func (p *planner) openAPI(a *apiPlan, d *reader) {
	if d.n == nil {
		return
	}
	markDocs(d)
	if n := d.node("security"); n != nil && !emptyList(n) {
		d.fail(n, "security", "security requirements in the definition are not supported (refused rather than served unprotected); declare authorizers in Auth")
	}
	if d.has("paths") {
		paths := d.sub("paths")
		if paths.n != nil {
			for _, path := range paths.n.keys {
				p.openAPIPath(a, path, paths.sub(path))
			}
		}
	}
	d.rest(a.id, nil)
}

func markDocs(r *reader) {
	if r.n == nil {
		return
	}
	for _, k := range r.n.keys {
		if openAPIDocs[k] {
			r.used[k] = true
		}
	}
}

func emptyList(n *node) bool { return n.kind == kList && len(n.items) == 0 }

func (p *planner) openAPIPath(a *apiPlan, path string, item *reader) {
	if item.n == nil {
		return
	}
	markDocs(item)
	methods := make([]string, 0, len(item.n.keys))
	for _, k := range item.n.keys {
		if openAPIMethods[strings.ToLower(k)] != "" {
			methods = append(methods, k)
		}
	}
	sort.Strings(methods)
	for _, m := range methods {
		op := item.sub(m)
		rt := &route{api: a.id, path: op.path, line: item.n.line}
		if op.n != nil {
			rt.line = op.n.line
		}
		switch {
		case path == "/$default":
			rt.r.Key = gateway.DefaultStage
		case !strings.HasPrefix(path, "/"):
			p.errs.add(errNode(item.n, item.path, "paths must start with /"))
			continue
		default:
			rt.r.Key = openAPIMethods[strings.ToLower(m)] + " " + path
		}
		if p.openAPIOperation(a, rt, op) {
			p.routes = append(p.routes, rt)
		}
	}
	item.rest(a.id, nil)
}

// openAPIOperation reads an operation into rt; false means it is not deployed.
func (p *planner) openAPIOperation(a *apiPlan, rt *route, op *reader) bool {
	if op.n == nil {
		return false
	}
	markDocs(op)
	if n := op.node("security"); n != nil {
		if !emptyList(n) {
			op.fail(n, "security", "security requirements in the definition are not supported (refused rather than served unprotected); give the route an authorizer with DefaultAuthorizer or an event's Auth")
			return false
		}
		none := "NONE"
		rt.authorizer = &none
	}
	if !op.has("x-amazon-apigateway-integration") {
		p.warnf("%s: no x-amazon-apigateway-integration; route %s not deployed", op.path, rt.r.Key)
		op.rest(a.id, nil)
		return false
	}
	in := op.sub("x-amazon-apigateway-integration")
	ok := p.openAPIIntegration(a, rt, in)
	in.rest(a.id, map[string]string{"credentials": iamNote, "connectionType": "", "httpMethod": ""})
	op.rest(a.id, nil)
	return ok
}

func (p *planner) openAPIIntegration(a *apiPlan, rt *route, in *reader) bool {
	if in.n == nil {
		return false
	}
	if typ := in.str("type"); !strings.EqualFold(typ, "aws_proxy") {
		p.warnf("%s.type: %q integrations are not supported (only aws_proxy: Lambda functions and AWS service integrations); route %s not deployed", in.path, typ, rt.r.Key)
		markAll(in)
		return false
	}
	if sub := in.str("integrationSubtype"); sub != "" {
		switch sub {
		case gateway.TypeSQSSendMessage, gateway.TypeSNSPublish, gateway.TypeStartExecution, gateway.TypeStartSyncExecution:
		default:
			p.warnf("%s.integrationSubtype: %s integrations are not supported; route %s not deployed", in.path, sub, rt.r.Key)
			markAll(in)
			return false
		}
		rt.r.Integration = gateway.Integration{Type: sub, Parameters: p.stringMap(in, "requestParameters")}
		in.oneOf("payloadFormatVersion", gateway.PayloadV1, gateway.PayloadV1)
	} else {
		uri := in.required("uri")
		fn := uri
		if m := lambdaURIRE.FindStringSubmatch(uri); m != nil {
			fn = m[1]
		}
		if uri != "" && !functionARNs.MatchString(fn) {
			in.fail(in.n.get("uri"), "uri", "must name a Lambda function (arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations), not %q", uri)
			return false
		}
		rt.r.Integration = gateway.Integration{Function: fn,
			PayloadFormat: in.oneOf("payloadFormatVersion", gateway.PayloadV2, gateway.PayloadV1, gateway.PayloadV2)}
		if in.has("requestParameters") {
			in.node("requestParameters")
			p.warnf("%s.requestParameters: parameter mapping of Lambda integrations is not supported; ignored", in.path)
		}
	}
	rt.r.Integration.TimeoutMillis = in.integer("timeoutInMillis", 0, 50, 30000)
	return true
}

func markAll(r *reader) {
	if r.n != nil {
		for _, k := range r.n.keys {
			r.used[k] = true
		}
	}
}
