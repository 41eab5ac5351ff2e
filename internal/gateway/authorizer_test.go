package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

type testKeys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	jwks string
}

var (
	keysOnce sync.Once
	keys     testKeys
)

// signingKeys returns an RSA and a P-256 key and their JWKS, made once.
func signingKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ecPub, _ := ek.PublicKey.Bytes() // 0x04 || X || Y
		b := base64.RawURLEncoding.EncodeToString
		set := map[string]any{"keys": []map[string]string{
			{"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": b(rk.N.Bytes()), "e": b(big.NewInt(int64(rk.E)).Bytes())},
			{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b(ecPub[1:33]), "y": b(ecPub[33:])},
			{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"}, // skipped
		}}
		j, _ := json.Marshal(set)
		keys = testKeys{rsa: rk, ec: ek, jwks: string(j)}
	})
	return keys
}

func signJWT(t testing.TB, alg, kid string, claims map[string]any) string {
	t.Helper()
	k := signingKeys(t)
	b := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	signed := b(h) + "." + b(p)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch alg {
	case "RS256":
		s, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case "HS256": // an attacker signing with the public modulus as an HMAC key
		m := hmac.New(sha256.New, k.rsa.N.Bytes())
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	case "none":
	}
	return signed + "." + b(sig)
}

func TestJWTAuthorizer(t *testing.T) {
	k := signingKeys(t)
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"ok"}`))
	auth := map[string]Authorizer{
		"jwt": {Type: "JWT", Issuer: "https://issuer.example", Audience: []string{"app-client"}, JWKS: k.jwks},
		"q":   {Type: "JWT", Issuer: "https://issuer.example", Audience: []string{"app-client"}, JWKS: k.jwks, IdentitySource: "$request.querystring.token"},
	}
	api := API{ID: "sec", Authorizers: auth, Routes: []Route{
		{Key: "GET /me", Integration: Integration{Function: "f"}, Authorizer: "jwt"},
		{Key: "POST /items", Integration: Integration{Function: "f"}, Authorizer: "jwt", Scopes: []string{"items/write", "admin"}},
		{Key: "GET /q", Integration: Integration{Function: "f"}, Authorizer: "q"},
		{Key: "GET /v1", Integration: Integration{Function: "f", PayloadFormat: PayloadV1}, Authorizer: "jwt"},
		{Key: "GET /open", Integration: Integration{Function: "f"}},
	}}
	g, logs := newTestGateway(t, inv, api)
	now := time.Now()
	good := map[string]any{"iss": "https://issuer.example", "aud": "app-client", "sub": "user-1", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Add(-time.Minute).Unix(), "scope": "openid items/read", "cognito:groups": []string{"admin", "users"}, "n": 1.5, "ok": true}
	with := func(changes map[string]any) map[string]any {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	tests := []struct {
		name, method, path string
		header             []string
		status             int
		challenge          string // substring of WWW-Authenticate
	}{
		{"open route", "GET", "/open", nil, 200, ""},
		{"no token", "GET", "/me", nil, 401, "Bearer"},
		{"RS256", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", good)), 200, ""},
		{"ES256", "GET", "/me", bearer(signJWT(t, "ES256", "ec1", good)), 200, ""},
		{"no Bearer prefix", "GET", "/me", []string{"Authorization", signJWT(t, "RS256", "rsa1", good)}, 200, ""},
		{"client_id instead of aud", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"aud": nil, "client_id": "app-client"}))), 200, ""},
		{"aud list", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"aud": []string{"x", "app-client"}}))), 200, ""},
		{"expired", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"exp": now.Add(-time.Second).Unix()}))), 401, "the token has expired"},
		{"no exp", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"exp": nil}))), 401, "invalid_token"},
		{"not yet valid", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"nbf": now.Add(time.Hour).Unix()}))), 401, "invalid_token"},
		{"wrong issuer", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"iss": "https://evil"}))), 401, "invalid issuer"},
		{"wrong audience", "GET", "/me", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"aud": "other"}))), 401, "audience"},
		{"unknown kid", "GET", "/me", bearer(signJWT(t, "RS256", "nope", good)), 401, "kid"},
		{"key/alg mismatch", "GET", "/me", bearer(signJWT(t, "ES256", "rsa1", good)), 401, "invalid"},
		{"alg none", "GET", "/me", bearer(signJWT(t, "none", "rsa1", good)), 401, "signing method none is invalid"},
		{"HS256 confusion", "GET", "/me", bearer(signJWT(t, "HS256", "rsa1", good)), 401, "signing method HS256 is invalid"},
		{"tampered", "GET", "/me", bearer(tamper(signJWT(t, "RS256", "rsa1", good))), 401, "signature"},
		{"garbage", "GET", "/me", bearer("a.b"), 401, "invalid_token"},
		{"missing scope", "POST", "/items", bearer(signJWT(t, "RS256", "rsa1", good)), 403, `error="insufficient_scope"`},
		{"has scope", "POST", "/items", bearer(signJWT(t, "RS256", "rsa1", with(map[string]any{"scope": "openid items/write"}))), 200, ""},
		{"scp list", "POST", "/items", bearer(signJWT(t, "ES256", "ec1", with(map[string]any{"scope": nil, "scp": []string{"admin"}}))), 200, ""},
		{"query token", "GET", "/q?token=" + signJWT(t, "RS256", "rsa1", good), nil, 200, ""},
		{"query source ignores header", "GET", "/q", bearer(signJWT(t, "RS256", "rsa1", good)), 401, "Bearer"},
	}
	for _, tt := range tests {
		calls := inv.calls("f")
		w := do(g, tt.method, "http://127.0.0.1:8080"+tt.path, nil, tt.header...)
		if w.Code != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.status)
			continue
		}
		if tt.status == 401 && w.Body.String() != `{"message":"Unauthorized"}` || tt.status == 403 && w.Body.String() != `{"message":"Forbidden"}` {
			t.Errorf("%s: body %s", tt.name, w.Body)
		}
		if tt.status >= 400 && inv.calls("f") != calls {
			t.Errorf("%s: refused request invoked the function", tt.name)
		}
		if c := w.Header().Get("Www-Authenticate"); !strings.Contains(c, tt.challenge) {
			t.Errorf("%s: WWW-Authenticate %q lacks %q", tt.name, c, tt.challenge)
		}
	}
	if !strings.Contains(logs.String(), `"error":"the token has expired"`) {
		t.Errorf("access log lacks the refusal reason")
	}

	// The event carries the claims and scopes as AWS flattens them.
	do(g, "GET", "http://127.0.0.1:8080/me", nil, bearer(signJWT(t, "RS256", "rsa1", good))...)
	var ev events.APIGatewayV2HTTPRequest
	raw := inv.events["f"][len(inv.events["f"])-1]
	mustUnmarshal(t, raw, &ev)
	jwt := ev.RequestContext.Authorizer.JWT
	wantClaims := map[string]string{"iss": "https://issuer.example", "aud": "app-client", "sub": "user-1",
		"exp": jsonNum(good["exp"]), "iat": jsonNum(good["iat"]), "scope": "openid items/read", "cognito:groups": "[admin users]", "n": "1.5", "ok": "true"}
	if !reflect.DeepEqual(jwt.Claims, wantClaims) || !reflect.DeepEqual(jwt.Scopes, []string{"openid", "items/read"}) {
		t.Errorf("authorizer.jwt = %+v, want claims %v", jwt, wantClaims)
	}
	compareShape(t, awsFixture(t, "apigw-v2-request-jwt-authorizer.json"), raw,
		"requestContext.authentication", "body", "pathParameters", "stageVariables", "queryStringParameters", "cookies")

	do(g, "GET", "http://127.0.0.1:8080/v1", nil, bearer(signJWT(t, "RS256", "rsa1", good))...)
	var v1 map[string]any
	mustUnmarshal(t, inv.events["f"][len(inv.events["f"])-1], &v1)
	if a := v1["requestContext"].(map[string]any)["authorizer"].(map[string]any); a["claims"].(map[string]any)["sub"] != "user-1" {
		t.Errorf("1.0 authorizer = %v", a)
	}
}

func jsonNum(v any) string { b, _ := json.Marshal(v); return string(b) }

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), "user-1", "admin!", 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

func TestAuthorizerValidation(t *testing.T) {
	k := signingKeys(t)
	good := Authorizer{Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKS: k.jwks}
	route := func(auth string, scopes ...string) Route {
		return Route{Key: "GET /", Integration: Integration{Function: "f"}, Authorizer: auth, Scopes: scopes}
	}
	tests := []struct {
		name string
		api  API
		want string
	}{
		{"ok", API{ID: "a", Authorizers: map[string]Authorizer{"z": good}, Routes: []Route{route("z", "s")}}, ""},
		{"unknown", API{ID: "a", Routes: []Route{route("z")}}, "no authorizer named"},
		{"scopes alone", API{ID: "a", Routes: []Route{route("", "s")}}, "scopes need an authorizer"},
		{"rest", API{ID: "a", Protocol: REST, Stage: "p", Authorizers: map[string]Authorizer{"z": good}}, "for HTTP APIs"},
		{"type", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "TOKEN", Issuer: "i", Audience: []string{"a"}, JWKS: k.jwks}}}, "type must be JWT or REQUEST"},
		{"no keys", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Issuer: "i", Audience: []string{"a"}}}}, "issuer must be an http(s) URL"},
		{"jwks uri", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKSURI: "ftp://x"}}}, "jwksUri must be"},
		{"lambda no function", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "REQUEST"}}}, "needs a function"},
		{"lambda simple 1.0", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "REQUEST", Function: "f", PayloadFormat: "1.0", EnableSimpleResponses: true}}}, "simple responses need payload format 2.0"},
		{"lambda ttl", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "REQUEST", Function: "f", ResultTTLSeconds: 300}}}, "needs an identity source"},
		{"lambda source", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "REQUEST", Function: "f", IdentitySource: "$request.header.A,$request.body"}}}, "identity source \"$request.body\""},
		{"issuer", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Audience: []string{"a"}, JWKS: k.jwks}}}, "issuer"},
		{"audience", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Issuer: "i", JWKS: k.jwks}}}, "audience"},
		{"source", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKS: k.jwks, IdentitySource: "$request.body.x"}}}, "identity source"},
		{"jwks", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKS: `{"keys":[]}`}}}, "no RSA or EC"},
		{"weak rsa", API{ID: "a", Authorizers: map[string]Authorizer{"z": {Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKS: `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`}}}, "2048"},
	}
	for _, tt := range tests {
		err := validate([]API{tt.api})
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: validate = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func FuzzVerifyJWT(f *testing.F) {
	k := signingKeys(f)
	jwks, err := parseJWKS(k.jwks)
	if err != nil {
		f.Fatal(err)
	}
	claims := map[string]any{"iss": "i", "aud": "a", "exp": 4102444800}
	f.Add(signJWT(f, "RS256", "rsa1", claims))
	f.Add(signJWT(f, "ES256", "ec1", claims))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := verifyJWT(tok, jwks)
		if err != nil {
			return
		}
		// Anything that verifies must have been signed by us: the fuzzer
		// cannot forge, only keep the seeds' signed parts intact.
		if c == nil {
			t.Fatal("nil claims without error")
		}
		checkClaims(c, "i", []string{"a"}, time.Now())
		claimStrings(c)
		tokenScopes(c)
	})
}

func BenchmarkJWTAuthorize(b *testing.B) {
	k := signingKeys(b)
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			z, err := compileAuthorizer(Authorizer{Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKS: k.jwks}, nil)
			if err != nil {
				b.Fatal(err)
			}
			kid := map[string]string{"RS256": "rsa1", "ES256": "ec1"}[alg]
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+signJWT(b, alg, kid, map[string]any{"iss": "i", "aud": "a", "exp": 4102444800}))
			for b.Loop() {
				if _, kind, reason := z.authorize(r, nil, time.Now()); kind != errNone {
					b.Fatal(reason)
				}
			}
		})
	}
}

func TestJWTCacheRechecksClaims(t *testing.T) {
	k := signingKeys(t)
	z, err := compileAuthorizer(Authorizer{Type: "JWT", Issuer: "i", Audience: []string{"a"}, JWKS: k.jwks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+signJWT(t, "RS256", "rsa1", map[string]any{"iss": "i", "aud": "a", "exp": now.Add(time.Minute).Unix()}))
	if _, kind, reason := z.authorize(r, nil, now); kind != errNone {
		t.Fatal(reason)
	}
	if len(z.verified) != 1 {
		t.Fatalf("verified cache has %d tokens", len(z.verified))
	}
	if _, kind, reason := z.authorize(r, nil, now.Add(2*time.Minute)); kind != errUnauthorized || reason != "the token has expired" {
		t.Errorf("cached token after expiry: %d %q", kind, reason)
	}
	// Refused tokens are not remembered.
	r.Header.Set("Authorization", "Bearer "+tamper(signJWT(t, "RS256", "rsa1", map[string]any{"iss": "i", "aud": "a", "exp": now.Add(time.Minute).Unix(), "sub": "user-1"})))
	z.authorize(r, nil, now)
	if len(z.verified) != 1 {
		t.Errorf("a refused token was cached")
	}
}
