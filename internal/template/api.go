package template

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// apiPlan is an API being planned: its routes come from function events.
type apiPlan struct {
	id          string // logical id
	api         *gateway.API
	defaultAuth string
	// unsupportedAuth names authorizers nimbus cannot run, with why; a route
	// using one is refused rather than served unprotected.
	unsupportedAuth map[string]string
	// apiKeyRequired (REST) is Auth.ApiKeyRequired: routes need a key
	// unless their event says otherwise.
	apiKeyRequired bool
	// routeSettings (HTTP) are RouteSettings' limits by route key.
	routeSettings map[string]throttle
	deps          map[string]bool
	line          int
}

var httpAPINotes = map[string]string{
	"AccessLogSettings": "access logs are not written", "Tags": "tags are not kept", "PropagateTags": "tags are not kept",
	"Domain": "custom domains are not served", "DisableExecuteApiEndpoint": "", "FailOnWarnings": "", "Description": "",
}

var restAPINotes = map[string]string{
	"EndpointConfiguration": "", "MethodSettings": "", "TracingEnabled": "X-Ray tracing is not available",
	"CacheClusterEnabled": "responses are not cached", "CacheClusterSize": "responses are not cached",
	"OpenApiVersion": "", "GatewayResponses": "", "Domain": "custom domains are not served",
	"AccessLogSetting": "access logs are not written", "CanarySetting": "", "MinimumCompressionSize": "",
	"Tags": "tags are not kept", "PropagateTags": "tags are not kept", "Description": "", "AlwaysDeploy": "",
	"MergeDefinitions": "", "DisableExecuteApiEndpoint": "", "Mode": "", "FailOnWarnings": "",
}

// api plans an AWS::Serverless::HttpApi or AWS::Serverless::Api resource.
func (p *planner) api(r *resource) {
	deps := dependsOn(r)
	base := "Resources." + r.id + ".Properties"
	props := p.resolveProps(p.props[r.id], base, deps)
	if props == nil {
		return
	}
	a := p.apiPlan(r.id, r.typ == TypeRestAPI, p.reader(props, base), r.line)
	a.deps = deps
	p.add(Resource{LogicalID: r.id, Type: r.typ, API: a.api})
	p.apiPlans[r.id] = a
}

func (p *planner) apiPlan(id string, rest bool, rd *reader, line int) *apiPlan {
	a := &apiPlan{id: id, api: &gateway.API{ID: APIID(p.opts.Stack, id), Routes: []gateway.Route{}}, unsupportedAuth: map[string]string{}, deps: map[string]bool{}, line: line}
	a.api.Name = rd.str("Name")
	if a.api.Name == "" {
		a.api.Name = p.opts.Stack + "-" + id
	}
	stage := rd.str("StageName")
	for _, k := range []string{"DefinitionBody", "DefinitionUri"} {
		if rest || k == "DefinitionUri" {
			if rd.node(k) != nil {
				p.warnf("%s: OpenAPI definitions are not supported yet%s; routes come from the functions' events only", rd.at(k),
					map[bool]string{true: " for REST APIs", false: " from files (put the definition in DefinitionBody)"}[rest])
			}
		}
	}
	if rest {
		a.api.Protocol = gateway.REST
		if stage == "" {
			stage = "Prod"
			if id != ImplicitRestAPI {
				rd.fail(nil, "StageName", "is required")
			}
		}
		a.api.StageVariables = p.stringMap(rd, "Variables")
		for _, t := range rd.strs("BinaryMediaTypes") {
			a.api.BinaryMediaTypes = append(a.api.BinaryMediaTypes, strings.ReplaceAll(t, "~1", "/"))
		}
		if rd.has("Cors") {
			a.api.CORS = restCORS(rd)
		}
		if rd.has("Auth") {
			p.restAuth(a, rd.sub("Auth"))
		}
		rd.rest(id, restAPINotes)
	} else {
		a.api.Protocol = gateway.HTTP
		if stage == gateway.DefaultStage {
			stage = ""
		}
		a.api.StageVariables = p.stringMap(rd, "StageVariables")
		if rd.has("CorsConfiguration") {
			a.api.CORS = httpCORS(rd)
		}
		if rd.has("Auth") {
			p.httpAuth(a, rd.sub("Auth"))
		}
		p.httpThrottling(a, rd)
		if rd.has("DefinitionBody") {
			p.openAPI(a, rd.sub("DefinitionBody"))
		}
		rd.rest(id, httpAPINotes)
	}
	a.api.Stage = stage
	return a
}

func (p *planner) stringMap(rd *reader, key string) map[string]string {
	n := rd.node(key)
	if n == nil || n.kind == kNull {
		return nil
	}
	if n.kind != kMap {
		rd.fail(n, key, "must be a map of strings")
		return nil
	}
	m := map[string]string{}
	for i, k := range n.keys {
		if !n.vals[i].isScalar() {
			p.errs.add(errNode(n.vals[i], join(rd.at(key), k), "must be a string"))
			continue
		}
		m[k] = n.vals[i].text
	}
	return m
}

// httpCORS reads an HTTP API's CorsConfiguration: true (allow everything),
// an origin, or {AllowOrigins, AllowMethods, AllowHeaders, ExposeHeaders,
// MaxAge, AllowCredentials}.
func httpCORS(rd *reader) *gateway.CORS {
	n := rd.n.get("CorsConfiguration")
	if n.isScalar() {
		switch s := rd.str("CorsConfiguration"); {
		case strings.EqualFold(s, "false"):
			return nil
		case strings.EqualFold(s, "true"):
			return &gateway.CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}
		default:
			return &gateway.CORS{AllowOrigins: []string{strings.Trim(s, "'")}}
		}
	}
	c := rd.sub("CorsConfiguration")
	cors := &gateway.CORS{
		AllowOrigins:     c.strs("AllowOrigins"),
		AllowMethods:     c.strs("AllowMethods"),
		AllowHeaders:     c.strs("AllowHeaders"),
		ExposeHeaders:    c.strs("ExposeHeaders"),
		MaxAge:           c.integer("MaxAge", 0, 0, 86400),
		AllowCredentials: c.boolean("AllowCredentials", false),
	}
	c.rest("", nil)
	return cors
}

// restCORS reads a REST API's Cors: an origin, or {AllowOrigin,
// AllowMethods, AllowHeaders, MaxAge, AllowCredentials} whose values are
// quoted ("'GET,POST'") as SAM wants them.
func restCORS(rd *reader) *gateway.CORS {
	unquote := func(s string) []string {
		s = strings.Trim(strings.TrimSpace(s), "'")
		if s == "" {
			return nil
		}
		var out []string
		for _, part := range strings.Split(s, ",") {
			out = append(out, strings.TrimSpace(part))
		}
		return out
	}
	if rd.n.get("Cors").isScalar() {
		return &gateway.CORS{AllowOrigins: unquote(rd.str("Cors")), AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}
	}
	c := rd.sub("Cors")
	cors := &gateway.CORS{
		AllowOrigins:     unquote(c.str("AllowOrigin")),
		AllowMethods:     unquote(c.str("AllowMethods")),
		AllowHeaders:     unquote(c.str("AllowHeaders")),
		AllowCredentials: c.boolean("AllowCredentials", false),
	}
	if s := strings.Trim(c.str("MaxAge"), "'"); s != "" {
		if n, ok := asInt(str(s, 0)); ok && n >= 0 {
			cors.MaxAge = n
		} else {
			c.fail(c.n.get("MaxAge"), "MaxAge", "must be a number of seconds")
		}
	}
	if len(cors.AllowMethods) == 0 {
		cors.AllowMethods = []string{"*"}
	}
	c.rest("", nil)
	return cors
}

// buildAPIs creates the implicit APIs and gives every API its routes.
func (p *planner) buildAPIs() {
	for _, id := range []string{ImplicitHTTPAPI, ImplicitRestAPI} {
		if !p.implicit[id] || p.t.byID[id] != nil {
			continue
		}
		rest := id == ImplicitRestAPI
		section := map[bool]string{true: "Api", false: "HttpApi"}[rest]
		deps := map[string]bool{}
		props := p.resolveProps(p.t.globals[section], "Globals."+section, deps)
		if props == nil {
			continue
		}
		a := p.apiPlan(id, rest, p.reader(props, "Globals."+section), 0)
		a.deps = deps
		p.apiPlans[id] = a
		typ := TypeHttpAPI
		if rest {
			typ = TypeRestAPI
		}
		p.add(Resource{LogicalID: id, Type: typ, API: a.api})
	}
	owned := map[string]bool{} // "<api> <route key>" with the event's own RouteSettings
	for _, rt := range p.routes {
		a := p.apiPlans[rt.api]
		if a == nil {
			if rt.api != "" {
				p.errs.add(errAt(rt.line, rt.path, "no API %s", rt.api))
			}
			continue
		}
		if (a.api.Protocol == gateway.REST) != rt.rest {
			p.errs.add(errAt(rt.line, rt.path, "%s is not an API of this event's kind", rt.api))
			continue
		}
		name := a.defaultAuth
		if rt.authorizer != nil {
			name = *rt.authorizer
		}
		switch _, ok := a.api.Authorizers[name]; {
		case name == "" || name == "NONE":
			if len(rt.r.Scopes) > 0 {
				p.errs.add(errAt(rt.line, rt.path+".Auth.AuthorizationScopes", "scopes need an authorizer"))
			}
		case a.unsupportedAuth[name] != "":
			p.errs.add(errAt(rt.line, rt.path, "route %s uses authorizer %s: %s (refused rather than served unprotected)", rt.r.Key, name, a.unsupportedAuth[name]))
			continue
		case !ok:
			p.errs.add(errAt(rt.line, rt.path, "route %s: %s has no authorizer %q", rt.r.Key, rt.api, name))
			continue
		default:
			rt.r.Authorizer = name
			if a.api.Authorizers[name].Type == "REQUEST" && len(rt.r.Scopes) > 0 {
				p.warnf("%s.Auth.AuthorizationScopes: scopes apply to JWT authorizers only; %s is a Lambda authorizer, ignored", rt.path, name)
				rt.r.Scopes = nil
			}
		}
		if rt.r.Key == "" {
			continue
		}
		if i := routeIndex(a.api.Routes, rt.r.Key); i >= 0 {
			p.errs.add(errAt(rt.line, rt.path, "route %s of %s is also declared by %s", rt.r.Key, rt.api, routeOwner(&a.api.Routes[i])))
			continue
		}
		if rt.rest {
			rt.r.APIKeyRequired = a.apiKeyRequired
			if rt.apiKey != nil {
				rt.r.APIKeyRequired = *rt.apiKey
			}
		}
		if rt.throttled {
			owned[rt.api+" "+rt.r.Key] = true
		}
		a.api.Routes = append(a.api.Routes, rt.r)
		if rt.function != "" {
			a.deps[rt.function] = true
		}
	}
	for _, id := range sortedKeys(boolKeys(p.apiPlans)) {
		a := p.apiPlans[id]
		sort.Slice(a.api.Routes, func(i, j int) bool { return a.api.Routes[i].Key < a.api.Routes[j].Key })
		own := map[string]bool{}
		for _, r := range a.api.Routes {
			own[r.Key] = owned[id+" "+r.Key]
		}
		p.applyRouteSettings(a, own)
		p.applyAPIKeys(a)
		if res := p.plan.Resource(id); res != nil {
			res.DependsOn = sortedKeys(a.deps)
		}
		if len(p.errs.errs) == 0 { // what is wrong is said already
			p.checkAPI(a)
		}
	}
}

// routeOwner says where a route comes from, for errors.
func routeOwner(r *gateway.Route) string {
	if r.Integration.Function != "" {
		return r.Integration.Function
	}
	return "the DefinitionBody (" + r.Integration.Type + ")"
}

// checkAPI has the gateway validate an API as it will be deployed (key
// values, which the deployer makes, stand in), so that what the gateway
// would refuse is refused now, with the API's place in the template.
func (p *planner) checkAPI(a *apiPlan) {
	api := *a.api
	api.APIKeys = slices.Clone(api.APIKeys)
	for i := range api.APIKeys {
		if api.APIKeys[i].Value == "" {
			api.APIKeys[i].Value = fmt.Sprintf("placeholder-key-value-%04d", i)
		}
	}
	g := gateway.New(gateway.Config{}, nil, slog.New(slog.DiscardHandler))
	if err := g.SetAPIs([]gateway.API{api}); err != nil {
		msg := err.Error()
		var le *lambda.Error
		if errors.As(err, &le) {
			msg = le.Message
		}
		p.errs.add(errAt(a.line, "Resources."+a.id, "the gateway refuses this API: %s", msg))
	}
}

func routeIndex(routes []gateway.Route, key string) int {
	for i, r := range routes {
		if r.Key == key {
			return i
		}
	}
	return -1
}
