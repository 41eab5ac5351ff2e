package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Authorizer is an HTTP API authorizer: a route that names it is served only
// to requests it admits. Type JWT checks a token (see the package comment);
// type REQUEST invokes a Lambda authorizer (lambdaauth.go).
type Authorizer struct {
	// Type is "JWT" or "REQUEST".
	Type string `json:"type"`
	// IdentitySource says where the credentials are. JWT: one of
	// "$request.header.NAME" or "$request.querystring.NAME"; empty means
	// $request.header.Authorization; a "Bearer " prefix is removed. REQUEST:
	// a comma-separated list (JSON may also give an array) of those and
	// $context.NAME and $stageVariables.NAME; a request missing any of them
	// is refused with 401 without invoking.
	IdentitySource string `json:"identitySource,omitempty"`
	// Issuer must equal the token's iss (JWT).
	Issuer string `json:"issuer,omitempty"`
	// Audience lists accepted aud (or client_id) values; at least one (JWT).
	Audience []string `json:"audience,omitempty"`
	// JWKS is the JSON Web Key Set document ({"keys":[…]}) whose RSA or EC
	// keys sign the tokens, given inline. Without it the set is fetched from
	// JWKSURI, or else from the jwks_uri of the issuer's
	// /.well-known/openid-configuration (jwks.go).
	JWKS    string `json:"jwks,omitempty"`
	JWKSURI string `json:"jwksUri,omitempty"`

	// Function is the Lambda authorizer (REQUEST): a name, name:qualifier or ARN.
	Function string `json:"function,omitempty"`
	// PayloadFormat of the authorizer event: "2.0" (the default) or "1.0".
	PayloadFormat string `json:"payloadFormat,omitempty"`
	// EnableSimpleResponses (2.0 only): the function answers
	// {"isAuthorized":bool,"context":{…}} instead of an IAM policy.
	EnableSimpleResponses bool `json:"enableSimpleResponses,omitempty"`
	// ResultTTLSeconds caches answers by identity source values (0–3600; 0
	// means no cache).
	ResultTTLSeconds int `json:"resultTtlSeconds,omitempty"`
}

// UnmarshalJSON accepts identitySource as a string or an array of strings.
func (a *Authorizer) UnmarshalJSON(b []byte) error {
	type plain Authorizer
	var aux struct {
		plain
		IdentitySource json.RawMessage `json:"identitySource,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*a = Authorizer(aux.plain)
	if len(aux.IdentitySource) == 0 || string(aux.IdentitySource) == "null" {
		return nil
	}
	var list []string
	if err := json.Unmarshal(aux.IdentitySource, &list); err == nil {
		a.IdentitySource = strings.Join(list, ",")
		return nil
	}
	return json.Unmarshal(aux.IdentitySource, &a.IdentitySource)
}

// jwtAuthorizer is a compiled Authorizer. It remembers tokens whose
// signature it verified (signature checks cost 0.2–0.6 ms on a small
// machine); claims are checked on every request. A new configuration makes a
// new authorizer, so a replaced key set forgets every token.
type jwtAuthorizer struct {
	header   string // canonical header name, or "" when from the query
	query    string
	issuer   string
	audience []string
	keys     []jwk       // inline keys
	remote   *jwksSource // keys from a URL, when not inline

	mu       sync.Mutex
	verified map[string]*verifiedToken // guarded by mu; at most maxVerified
}

// maxVerified bounds an authorizer's verified-token cache; when full it is
// emptied (tokens are re-verified, never wrongly accepted).
const maxVerified = 4096

type verifiedToken struct {
	claims map[string]json.RawMessage
	ctx    *jwtContext // shared, read-only
}

func (z *jwtAuthorizer) verify(tok string) (*verifiedToken, error) {
	z.mu.Lock()
	v := z.verified[tok]
	z.mu.Unlock()
	if v != nil {
		return v, nil
	}
	claims, err := z.verifySignature(tok)
	if err != nil {
		return nil, err
	}
	v = &verifiedToken{claims: claims, ctx: &jwtContext{Claims: claimStrings(claims), Scopes: tokenScopes(claims)}}
	z.mu.Lock()
	if len(z.verified) >= maxVerified {
		clear(z.verified)
	}
	z.verified[tok] = v
	z.mu.Unlock()
	return v, nil
}

func parseIdentitySource(s string) (header, query string, ok bool) {
	switch {
	case s == "":
		return "Authorization", "", true
	case strings.HasPrefix(s, "$request.header.") && len(s) > len("$request.header."):
		return http.CanonicalHeaderKey(strings.TrimPrefix(s, "$request.header.")), "", true
	case strings.HasPrefix(s, "$request.querystring.") && len(s) > len("$request.querystring."):
		return "", strings.TrimPrefix(s, "$request.querystring."), true
	}
	return "", "", false
}

func compileAuthorizer(a Authorizer, remote *jwksSource) (*jwtAuthorizer, error) {
	var keys []jwk
	if remote == nil {
		var err error
		if keys, err = parseJWKS(a.JWKS); err != nil {
			return nil, err
		}
	}
	h, q, _ := parseIdentitySource(a.IdentitySource)
	return &jwtAuthorizer{header: h, query: q, issuer: a.Issuer, audience: a.Audience, keys: keys, remote: remote,
		verified: map[string]*verifiedToken{}}, nil
}

// jwtContext is what a successful authorization puts in the event.
type jwtContext struct {
	Claims map[string]string `json:"claims"`
	Scopes []string          `json:"scopes"`
}

// authorize checks r's token for a route requiring scopes (any one of them).
// It answers errUnauthorized for a missing or invalid token and
// errForbidden for missing scopes, with the reason.
func (z *jwtAuthorizer) authorize(r *http.Request, scopes []string, now time.Time) (*jwtContext, errKind, string) {
	var tok string
	if z.header != "" {
		tok = r.Header.Get(z.header)
	} else {
		q, _ := url.ParseQuery(r.URL.RawQuery) // keeps what parses
		tok = q.Get(z.query)
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		return nil, errUnauthorized, "no token in the identity source"
	}
	v, err := z.verify(tok)
	if err == nil {
		err = checkClaims(v.claims, z.issuer, z.audience, now)
	}
	if err != nil {
		return nil, errUnauthorized, err.Error()
	}
	if len(scopes) > 0 {
		ok := false
		for _, s := range v.ctx.Scopes {
			if contains(scopes, s) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, errForbidden, "the token has none of the route's scopes"
		}
	}
	return v.ctx, errNone, ""
}
