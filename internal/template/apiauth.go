package template

import (
	"net/url"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// API authorization, as SAM declares it.
//
// HTTP APIs (Auth): Authorizers with JwtConfiguration become JWT authorizers
// (the gateway fetches the keys from the issuer's
// /.well-known/openid-configuration, so the issuer must be an http(s) URL);
// Authorizers with FunctionArn become Lambda (REQUEST) authorizers:
// AuthorizerPayloadFormatVersion, EnableSimpleResponses, and Identity's
// Headers, QueryStrings, StageVariables and Context (in that order) as the
// identity sources and ReauthorizeEvery as the cache time. DefaultAuthorizer
// applies to every route without its own Auth.Authorizer; "NONE" is none.
// IAM authorization (EnableIamAuthorizer, AWS_IAM) is not available: a route
// using it is refused.
//
// REST APIs (Auth): ApiKeyRequired (for every route, or per event) and
// UsagePlan. A usage plan (CreateUsagePlan PER_API or SHARED) makes one API
// key, named as SAM names it (<Api>ApiKey, or ServerlessApiKey for a shared
// plan, the same key on every API that shares it), limited by the plan's
// Throttle. Routes that require a key on an API without a usage plan get a
// generated <Api>ApiKey (with a warning). Key values are not in the
// template: the plan leaves them empty and the deployer generates each
// once, keeps it in the stack record and prints it. REST authorizers
// (Cognito, Lambda TOKEN/REQUEST) and resource policies are refused.

// SharedAPIKey is the name of the key of a SHARED usage plan.
const SharedAPIKey = "ServerlessApiKey"

// httpAuth reads an HTTP API's Auth.
func (p *planner) httpAuth(a *apiPlan, auth *reader) {
	a.defaultAuth = auth.str("DefaultAuthorizer")
	if auth.boolean("EnableIamAuthorizer", false) {
		a.unsupportedAuth["AWS_IAM"] = "IAM authorization is not supported"
	}
	if auth.has("Authorizers") {
		zs := auth.sub("Authorizers")
		if zs.n != nil {
			for _, name := range zs.n.keys {
				z := zs.sub(name)
				var az *gateway.Authorizer
				switch {
				case z.has("FunctionArn"):
					az = p.lambdaAuthorizer(a, z)
				case z.has("JwtConfiguration"):
					az = p.jwtAuthorizer(a, z)
				default:
					z.fail(nil, "JwtConfiguration", "an authorizer needs JwtConfiguration (JWT) or FunctionArn (Lambda)")
					continue
				}
				if a.api.Authorizers == nil {
					a.api.Authorizers = map[string]gateway.Authorizer{}
				}
				a.api.Authorizers[name] = *az
			}
		}
	}
	auth.rest(a.id, nil)
}

func (p *planner) jwtAuthorizer(a *apiPlan, z *reader) *gateway.Authorizer {
	jwt := z.sub("JwtConfiguration")
	issuer := jwt.str("issuer") + jwt.str("Issuer")
	audience := append(jwt.strs("audience"), jwt.strs("Audience")...)
	jwt.rest(a.id, nil)
	if issuer == "" {
		jwt.fail(nil, "issuer", "is required")
	} else if u, err := url.Parse(issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		jwt.fail(jwt.n.get("issuer"), "issuer", "must be an http(s) URL: the gateway fetches the signing keys from %q's /.well-known/openid-configuration", issuer)
	}
	if len(audience) == 0 {
		jwt.fail(nil, "audience", "needs at least one audience")
	}
	z.strs("AuthorizationScopes") // SAM's; scopes are per route
	az := &gateway.Authorizer{Type: "JWT", IdentitySource: identitySource(z), Issuer: issuer, Audience: audience}
	z.rest(a.id, nil)
	return az
}

func identitySource(z *reader) string {
	n := z.node("IdentitySource")
	switch {
	case n == nil:
		return ""
	case n.isScalar():
		return n.text
	case n.kind == kList && len(n.items) == 1 && n.items[0].isScalar():
		return n.items[0].text
	}
	z.fail(n, "IdentitySource", "must be one $request.header.NAME or $request.querystring.NAME")
	return ""
}

// lambdaAuthorizer reads a Lambda authorizer (FunctionArn) of an HTTP API.
func (p *planner) lambdaAuthorizer(a *apiPlan, z *reader) *gateway.Authorizer {
	az := &gateway.Authorizer{Type: "REQUEST", Function: z.required("FunctionArn")}
	if fn := az.Function; fn != "" && !validFunctionRef(fn) {
		z.fail(z.n.get("FunctionArn"), "FunctionArn", "must be a function ARN (!GetAtt Fn.Arn), a name or name:alias, not %q", fn)
	}
	if !z.has("AuthorizerPayloadFormatVersion") {
		z.fail(nil, "AuthorizerPayloadFormatVersion", "is required for a Lambda authorizer (1.0 or 2.0)")
	}
	az.PayloadFormat = z.oneOf("AuthorizerPayloadFormatVersion", gateway.PayloadV2, gateway.PayloadV1, gateway.PayloadV2)
	az.EnableSimpleResponses = z.boolean("EnableSimpleResponses", false)
	if az.EnableSimpleResponses && az.PayloadFormat == gateway.PayloadV1 {
		z.fail(z.n.get("EnableSimpleResponses"), "EnableSimpleResponses", "simple responses need AuthorizerPayloadFormatVersion 2.0")
	}
	if z.has("Identity") {
		id := z.sub("Identity")
		var sources []string
		for _, s := range []struct{ key, prefix string }{
			{"Headers", "$request.header."}, {"QueryStrings", "$request.querystring."},
			{"StageVariables", "$stageVariables."}, {"Context", "$context."},
		} {
			for _, v := range id.strs(s.key) {
				sources = append(sources, s.prefix+v)
			}
		}
		az.IdentitySource = strings.Join(sources, ",")
		az.ResultTTLSeconds = id.integer("ReauthorizeEvery", 0, 0, 3600)
		if az.ResultTTLSeconds > 0 && len(sources) == 0 {
			id.fail(id.n.get("ReauthorizeEvery"), "ReauthorizeEvery", "caching needs an identity source (Headers, QueryStrings, StageVariables or Context)")
		}
		id.rest(a.id, nil)
	}
	z.rest(a.id, map[string]string{"FunctionInvokeRole": iamNote, "EnableFunctionDefaultPermissions": iamNote})
	return az
}

// validFunctionRef accepts what the gateway can invoke: a function ARN
// (maybe qualified), a name, or name:qualifier.
func validFunctionRef(s string) bool {
	if strings.HasPrefix(s, "arn:") {
		return functionARNs.MatchString(s)
	}
	name, q, _ := strings.Cut(s, ":")
	return lambda.ValidName(name) && !strings.Contains(q, ":")
}

// restAuth reads a REST API's Auth: API keys and usage plans; nimbus has no
// REST authorizers, so every one is unsupported (and a route using one is
// refused).
func (p *planner) restAuth(a *apiPlan, auth *reader) {
	a.defaultAuth = auth.str("DefaultAuthorizer")
	if auth.has("Authorizers") {
		if zs := auth.node("Authorizers"); zs != nil && zs.kind == kMap {
			for _, name := range zs.keys {
				a.unsupportedAuth[name] = "REST API authorizers are not supported yet"
			}
		}
	}
	a.apiKeyRequired = auth.boolean("ApiKeyRequired", false)
	if auth.has("UsagePlan") {
		p.usagePlan(a, auth.sub("UsagePlan"))
	}
	if auth.has("ResourcePolicy") {
		auth.fail(auth.n.get("ResourcePolicy"), "ResourcePolicy", "resource policies are not supported yet")
	}
	auth.rest(a.id, map[string]string{"AddDefaultAuthorizerToCorsPreflight": "", "InvokeRole": iamNote,
		"AddApiKeyRequiredToCorsPreflight": "preflight requests never need a key"})
}

// usagePlan reads Auth.UsagePlan: the API's key and its throttle.
func (p *planner) usagePlan(a *apiPlan, u *reader) {
	kind := u.oneOf("CreateUsagePlan", "", "PER_API", "SHARED", "NONE")
	if !u.has("CreateUsagePlan") {
		u.fail(nil, "CreateUsagePlan", "is required (PER_API, SHARED or NONE)")
	}
	if kind == "NONE" || kind == "" {
		markAll(u)
		return
	}
	key := gateway.APIKey{Name: a.id + "ApiKey"}
	if kind == "SHARED" {
		key.Name = SharedAPIKey
	}
	if u.has("Throttle") {
		t := u.sub("Throttle")
		key.RateLimit = t.number("RateLimit")
		key.BurstLimit = t.integer("BurstLimit", 0, 0, 1<<30)
		t.rest(a.id, nil)
	}
	if u.has("Quota") {
		u.node("Quota")
		p.warnf("%s: usage plan quotas are not enforced; the key is limited by its Throttle only", u.at("Quota"))
	}
	u.rest(a.id, map[string]string{"UsagePlanName": "", "Description": "", "Tags": "tags are not kept"})
	a.api.APIKeys = append(a.api.APIKeys, key)
}

// number returns a non-negative number property (0 when absent).
func (r *reader) number(key string) float64 {
	n := r.node(key)
	if n == nil || n.kind == kNull {
		return 0
	}
	f, ok := asFloat(n)
	if !ok || f < 0 {
		r.fail(n, key, "must be a non-negative number, not %s", show(n))
		return 0
	}
	return f
}

// applyAPIKeys marks the routes that need a key (the API's ApiKeyRequired
// unless the event says otherwise) and makes sure such an API has a key.
func (p *planner) applyAPIKeys(a *apiPlan) {
	need := false
	for i := range a.api.Routes {
		need = need || a.api.Routes[i].APIKeyRequired
	}
	if need && len(a.api.APIKeys) == 0 {
		a.api.APIKeys = []gateway.APIKey{{Name: a.id + "ApiKey"}}
		p.warnf("Resources.%s: routes require an API key but no usage plan creates one (Auth.UsagePlan); nimbus generates %sApiKey, shown after the deploy", a.id, a.id)
	}
}
