package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
)

// Lambda authorizers (type REQUEST), as HTTP APIs run them.
//
// The identity sources are read first; when any is missing or empty the
// request is refused with 401 without invoking. Otherwise the answer is
// looked up in the cache (keyed by the identity source values, kept
// ResultTTLSeconds) or the function is invoked, through the gateway's
// Invoker, with the authorizer event: payload 2.0 (the request's 2.0 event
// without body, plus type "REQUEST", routeArn and identitySource) or 1.0
// (the 1.0 event without body, plus type, methodArn and identitySource).
// The function answers, with simple responses, {"isAuthorized":bool,
// "context":{…}}; otherwise an IAM policy {"principalId", "policyDocument":
// {"Statement":[{"Action":"execute-api:Invoke","Effect":"Allow"|"Deny",
// "Resource":ARN or [ARN…]}]}, "context"} where the route is allowed when a
// statement allows its ARN (wildcards * and ?) and none denies it. Refused:
// 403 {"message":"Forbidden"}. A function error, a throttle, a timeout (10 s)
// or a malformed answer: 500. The context reaches the integration as
// requestContext.authorizer.lambda (2.0 events) or requestContext.authorizer
// (1.0, with principalId).

const lambdaAuthTimeout = 10 * time.Second

// maxAuthCache bounds an authorizer's cache; when full it is emptied.
const maxAuthCache = 4096

type lambdaAuthorizer struct {
	name     string
	function string
	format   string // PayloadV1 or PayloadV2
	simple   bool
	ttl      time.Duration
	sources  []mapping // identity sources, each one reference

	mu    sync.Mutex
	cache map[string]*authAnswer // guarded by mu
}

// authAnswer is a function's answer, kept for the TTL.
type authAnswer struct {
	simple      bool
	allowed     bool // simple responses
	principalID string
	allow, deny []string // resources of Allow and Deny statements
	context     map[string]any
	expires     time.Time
}

// lambdaAuthContext is what an admitted request carries to its integration.
type lambdaAuthContext struct {
	PrincipalID string
	Context     map[string]any
}

func parseIdentitySources(s string) ([]mapping, error) {
	var out []mapping
	for src := range strings.SplitSeq(s, ",") {
		src = strings.TrimSpace(src)
		m, err := parseMapping(src)
		if err != nil {
			return nil, err
		}
		if len(m) != 1 || m[0].src == srcLiteral || m[0].src == srcBody || m[0].src == srcBodyPath {
			return nil, fmt.Errorf("identity source %q must be one $request.header.NAME, $request.querystring.NAME, $request.path.NAME, $context.NAME or $stageVariables.NAME", src)
		}
		out = append(out, m)
	}
	return out, nil
}

func compileLambdaAuthorizer(name string, a Authorizer) *lambdaAuthorizer {
	z := &lambdaAuthorizer{name: name, function: a.Function, format: PayloadV2, simple: a.EnableSimpleResponses,
		ttl: time.Duration(a.ResultTTLSeconds) * time.Second, cache: map[string]*authAnswer{}}
	if a.PayloadFormat == PayloadV1 {
		z.format, z.simple = PayloadV1, false
	}
	if a.IdentitySource != "" {
		z.sources, _ = parseIdentitySources(a.IdentitySource) // validated
	}
	return z
}

// validateAuthorizer reports the problems of one authorizer.
func validateAuthorizer(a *API, name string, z *Authorizer, add func(string, ...any)) {
	where := fmt.Sprintf("api %q: authorizer %q", a.ID, name)
	if a.Protocol == REST {
		add("%s: authorizers are for HTTP APIs (REST APIs use API keys)", where)
		return
	}
	switch z.Type {
	case "JWT":
		if z.Issuer == "" {
			add("%s: issuer is required", where)
		}
		if len(z.Audience) == 0 {
			add("%s: at least one audience is required", where)
		}
		if _, _, ok := parseIdentitySource(z.IdentitySource); !ok {
			add("%s: identity source must be $request.header.NAME or $request.querystring.NAME", where)
		}
		switch {
		case z.JWKS != "":
			if _, err := parseJWKS(z.JWKS); err != nil {
				add("%s: %v", where, err)
			}
		case z.JWKSURI != "":
			if !validHTTPURL(z.JWKSURI) {
				add("%s: jwksUri must be an http(s) URL", where)
			}
		case !validHTTPURL(z.Issuer):
			add("%s: without jwks or jwksUri the issuer must be an http(s) URL (its /.well-known/openid-configuration names the keys)", where)
		}
	case "REQUEST":
		if z.Function == "" {
			add("%s: a REQUEST authorizer needs a function", where)
		}
		if z.PayloadFormat != "" && z.PayloadFormat != PayloadV1 && z.PayloadFormat != PayloadV2 {
			add("%s: payload format must be 1.0 or 2.0", where)
		}
		if z.EnableSimpleResponses && z.PayloadFormat == PayloadV1 {
			add("%s: simple responses need payload format 2.0", where)
		}
		if z.ResultTTLSeconds < 0 || z.ResultTTLSeconds > 3600 {
			add("%s: resultTtlSeconds must be 0-3600", where)
		}
		if z.IdentitySource == "" && z.ResultTTLSeconds > 0 {
			add("%s: caching (resultTtlSeconds > 0) needs an identity source", where)
		}
		if z.IdentitySource != "" {
			if _, err := parseIdentitySources(z.IdentitySource); err != nil {
				add("%s: %v", where, err)
			}
		}
	default:
		add("%s: type must be JWT or REQUEST, not %q", where, z.Type)
	}
}

// authorize runs the authorizer for a request (in: its inbound without
// body). It returns the context for the integration, or the refusal.
func (g *Gateway) authorizeLambda(ctx context.Context, x *exchange, z *lambdaAuthorizer, in *inbound) (*lambdaAuthContext, errKind, string) {
	env := &mapEnv{in: in}
	values := make([]string, len(z.sources))
	for i, m := range z.sources {
		if values[i] = m.eval(env); values[i] == "" {
			return nil, errUnauthorized, "identity source missing: " + m[0].text
		}
	}
	arn := routeARN(in)
	key := strings.Join(values, "\x00")
	now := g.now()
	var ans *authAnswer
	if z.ttl > 0 {
		z.mu.Lock()
		if a := z.cache[key]; a != nil && now.Before(a.expires) {
			ans = a
		}
		z.mu.Unlock()
	}
	if ans == nil {
		start := g.now()
		var kind errKind
		var reason string
		ans, kind, reason = g.invokeAuthorizer(ctx, z, in, arn, values)
		x.stats.observeAuthorizer(g.now().Sub(start))
		if kind != errNone {
			return nil, kind, reason
		}
		if z.ttl > 0 {
			ans.expires = now.Add(z.ttl)
			z.mu.Lock()
			if len(z.cache) >= maxAuthCache {
				clear(z.cache)
			}
			z.cache[key] = ans
			z.mu.Unlock()
		}
	}
	if !ans.permits(arn) {
		return nil, errForbidden, "the Lambda authorizer denied the request"
	}
	return &lambdaAuthContext{PrincipalID: ans.principalID, Context: ans.context}, errNone, ""
}

func (g *Gateway) invokeAuthorizer(ctx context.Context, z *lambdaAuthorizer, in *inbound, arn string, values []string) (*authAnswer, errKind, string) {
	var payload []byte
	var err error
	if z.format == PayloadV1 {
		ev := authorizerEventV1{Type: "REQUEST", MethodArn: arn, IdentitySource: strings.Join(values, ","), eventV1: newEventV1(in)}
		ev.Body = nil
		payload, err = marshal(&ev)
	} else {
		ev := authorizerEventV2{Type: "REQUEST", RouteArn: arn, IdentitySource: values, eventV2: newEventV2(in)}
		ev.Body, ev.IsBase64Encoded = "", false
		payload, err = marshal(&ev)
	}
	if err != nil {
		return nil, errIntegration, "building the authorizer event: " + err.Error()
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lambdaAuthTimeout)
	defer cancel()
	resp, err := g.inv.Invoke(actx, invoke.Request{FunctionName: z.function, Payload: payload})
	switch {
	case err != nil:
		return nil, errIntegration, "authorizer " + z.name + ": invoke: " + err.Error()
	case resp.FunctionError != "":
		return nil, errIntegration, "authorizer " + z.name + ": function error (" + resp.FunctionError + ")"
	}
	ans, err := parseAuthAnswer(resp.Payload, z.simple)
	if err != nil {
		return nil, errIntegration, "authorizer " + z.name + ": malformed answer: " + err.Error()
	}
	return ans, errNone, ""
}

func parseAuthAnswer(b []byte, simple bool) (*authAnswer, error) {
	var raw struct {
		IsAuthorized   *bool          `json:"isAuthorized"`
		PrincipalID    string         `json:"principalId"`
		Context        map[string]any `json:"context"`
		PolicyDocument *struct {
			Statement []struct {
				Action   json.RawMessage `json:"Action"`
				Effect   string          `json:"Effect"`
				Resource json.RawMessage `json:"Resource"`
			} `json:"Statement"`
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	a := &authAnswer{simple: simple, principalID: raw.PrincipalID, context: raw.Context}
	if simple {
		if raw.IsAuthorized == nil {
			return nil, fmt.Errorf("isAuthorized is missing")
		}
		a.allowed = *raw.IsAuthorized
		return a, nil
	}
	if raw.PolicyDocument == nil {
		return nil, fmt.Errorf("policyDocument is missing")
	}
	for _, st := range raw.PolicyDocument.Statement {
		invokes := false
		for _, act := range stringOrList(st.Action) {
			if act == "*" || act == "execute-api:*" || strings.EqualFold(act, "execute-api:Invoke") {
				invokes = true
			}
		}
		if !invokes {
			continue
		}
		res := stringOrList(st.Resource)
		switch st.Effect {
		case "Allow":
			a.allow = append(a.allow, res...)
		case "Deny":
			a.deny = append(a.deny, res...)
		default:
			return nil, fmt.Errorf("statement effect %q", st.Effect)
		}
	}
	return a, nil
}

// permits reports whether the answer admits a request for the route ARN.
func (a *authAnswer) permits(arn string) bool {
	if a.simple {
		return a.allowed
	}
	for _, p := range a.deny {
		if wildcardMatch(p, arn) {
			return false
		}
	}
	for _, p := range a.allow {
		if wildcardMatch(p, arn) {
			return true
		}
	}
	return false
}

// wildcardMatch matches IAM resource patterns: * any run, ? one character.
func wildcardMatch(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px, mark = star+1, mark+1
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// routeARN is the execute-api ARN of the request:
// arn:aws:execute-api:us-east-1:ACCOUNT:API/STAGE/METHOD/PATH (route path,
// without the stage segment).
func routeARN(in *inbound) string {
	p := in.routePath
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return "arn:aws:execute-api:us-east-1:" + in.accountID + ":" + in.api.id + "/" + in.api.stage + "/" + in.method + p
}

// The authorizer events: the request's event without body, plus these.
type authorizerEventV2 struct {
	Type           string   `json:"type"`
	RouteArn       string   `json:"routeArn"`
	IdentitySource []string `json:"identitySource"`
	*eventV2
}

type authorizerEventV1 struct {
	Type           string `json:"type"`
	MethodArn      string `json:"methodArn"`
	IdentitySource string `json:"identitySource,omitempty"`
	*eventV1
}
