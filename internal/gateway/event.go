package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// timeFormat is requestContext.time / requestTime: "21/Apr/2020:15:08:21 +0000".
const timeFormat = "02/Jan/2006:15:04:05 -0700"

// inbound is what the events are built from: the request as the gateway saw
// it, routed.
type inbound struct {
	accountID  string
	api        *api
	route      *route
	method     string
	rawPath    string // escaped, as requested (stage segment included)
	path       string // decoded, as requested
	routePath  string // decoded, without the stage segment (1.0 path)
	rawQuery   string
	header     http.Header
	host       string
	sourceIP   string
	port       string // the port the request came to
	scheme     string
	proto      string
	body       []byte
	now        time.Time
	requestID  string
	extendedID string
	params     map[string]string
	jwt        *jwtContext        // set when a JWT authorizer admitted the request
	lambdaAuth *lambdaAuthContext // set when a Lambda authorizer admitted it
}

func (g *Gateway) inbound(x *exchange, escaped string, segs []string, stageSeg bool, body []byte) *inbound {
	r := x.r
	in := &inbound{
		accountID:  g.cfg.AccountID,
		api:        x.route.api,
		route:      x.route,
		method:     r.Method,
		rawPath:    escaped,
		path:       r.URL.Path,
		rawQuery:   r.URL.RawQuery,
		header:     r.Header,
		host:       r.Host,
		sourceIP:   sourceIP(r),
		scheme:     "http",
		proto:      r.Proto,
		body:       body,
		now:        x.start,
		requestID:  x.requestID,
		extendedID: x.extendedID,
		params:     x.route.params(segs),
	}
	if in.rawPath == "" {
		in.rawPath = "/"
	}
	if in.path == "" {
		in.path = "/"
	}
	in.routePath = in.path
	if stageSeg {
		in.routePath = stripFirstSegment(in.path)
	}
	if r.TLS != nil {
		in.scheme = "https"
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(a.String()); err == nil {
			in.port = port
		}
	}
	if in.port == "" {
		in.port = "80"
		if in.scheme == "https" {
			in.port = "443"
		}
	}
	return in
}

func stripFirstSegment(p string) string {
	if i := strings.IndexByte(p[1:], '/'); i >= 0 {
		return p[i+1:]
	}
	return "/"
}

// The 2.0 event, field for field as HTTP APIs send it.
type eventV2 struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        requestContextV2  `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
	StageVariables        map[string]string `json:"stageVariables,omitempty"`
}

type requestContextV2 struct {
	AccountID    string        `json:"accountId"`
	APIID        string        `json:"apiId"`
	Authorizer   *authorizerV2 `json:"authorizer,omitempty"`
	DomainName   string        `json:"domainName"`
	DomainPrefix string        `json:"domainPrefix"`
	HTTP         httpV2        `json:"http"`
	RequestID    string        `json:"requestId"`
	RouteKey     string        `json:"routeKey"`
	Stage        string        `json:"stage"`
	Time         string        `json:"time"`
	TimeEpoch    int64         `json:"timeEpoch"`
}

type httpV2 struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// authorizerV2 is requestContext.authorizer.
type authorizerV2 struct {
	JWT    *jwtContext    `json:"jwt,omitempty"`
	Lambda map[string]any `json:"lambda,omitempty"`
}

func buildV2(in *inbound) ([]byte, error) { return newEventV2(in).appendJSON(make([]byte, 0, 1024)) }

func newEventV2(in *inbound) *eventV2 {
	ev := &eventV2{
		Version:        "2.0",
		RouteKey:       in.route.key,
		RawPath:        in.rawPath,
		RawQueryString: in.rawQuery,
		Headers:        make(map[string]string, len(in.header)+6),
		PathParameters: in.params,
		StageVariables: in.api.stageVars,
		RequestContext: requestContextV2{
			AccountID:    in.accountID,
			APIID:        in.api.id,
			DomainName:   in.host,
			DomainPrefix: domainPrefix(in.host),
			HTTP: httpV2{
				Method:    in.method,
				Path:      in.path,
				Protocol:  in.proto,
				SourceIP:  in.sourceIP,
				UserAgent: in.header.Get("User-Agent"),
			},
			RequestID: in.requestID,
			RouteKey:  in.route.key,
			Stage:     in.api.stage,
			Time:      in.now.UTC().Format(timeFormat),
			TimeEpoch: in.now.UnixMilli(),
		},
	}
	if in.jwt != nil {
		ev.RequestContext.Authorizer = &authorizerV2{JWT: in.jwt}
	}
	if in.lambdaAuth != nil {
		ev.RequestContext.Authorizer = &authorizerV2{Lambda: in.lambdaAuth.Context}
		if ev.RequestContext.Authorizer.Lambda == nil {
			ev.RequestContext.Authorizer.Lambda = map[string]any{}
		}
	}
	for k, vs := range in.header {
		lk := lower(k)
		switch lk {
		case "cookie":
			for _, v := range vs {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		case "content-length":
			continue // set below from the body
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = in.host
	ev.Headers["content-length"] = strconv.Itoa(len(in.body))
	addForwarded(in, func(k, v string) { ev.Headers[k] = v }, "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id", ev.Headers["x-forwarded-for"], ev.Headers["x-amzn-trace-id"])
	if in.rawQuery != "" {
		q, _ := url.ParseQuery(in.rawQuery) // keeps what parses, like AWS
		if len(q) > 0 {
			ev.QueryStringParameters = make(map[string]string, len(q))
			for k, vs := range q {
				ev.QueryStringParameters[k] = strings.Join(vs, ",")
			}
		}
	}
	if len(in.body) > 0 {
		if isTextType(in.header.Get("Content-Type")) {
			ev.Body = string(in.body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(in.body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// The 1.0 event (REST APIs, and HTTP API integrations that ask for 1.0).
type eventV1 struct {
	Version                         string              `json:"version,omitempty"` // "1.0" from HTTP APIs only
	Resource                        string              `json:"resource"`
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	Headers                         map[string]string   `json:"headers"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string   `json:"queryStringParameters"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	RequestContext                  requestContextV1    `json:"requestContext"`
	PathParameters                  map[string]string   `json:"pathParameters"`
	StageVariables                  map[string]string   `json:"stageVariables"`
	Body                            *string             `json:"body"`
	IsBase64Encoded                 bool                `json:"isBase64Encoded"`
}

type requestContextV1 struct {
	AccountID         string     `json:"accountId"`
	APIID             string     `json:"apiId"`
	Authorizer        any        `json:"authorizer,omitempty"` // HTTP APIs: JWT {claims, scopes}, or the Lambda authorizer's context and principalId
	DomainName        string     `json:"domainName"`
	DomainPrefix      string     `json:"domainPrefix"`
	ExtendedRequestID string     `json:"extendedRequestId"`
	HTTPMethod        string     `json:"httpMethod"`
	Identity          identityV1 `json:"identity"`
	Path              string     `json:"path"`
	Protocol          string     `json:"protocol"`
	RequestID         string     `json:"requestId"`
	RequestTime       string     `json:"requestTime"`
	RequestTimeEpoch  int64      `json:"requestTimeEpoch"`
	ResourceID        string     `json:"resourceId"`
	ResourcePath      string     `json:"resourcePath"`
	Stage             string     `json:"stage"`
}

// identityV1 has AWS's null fields for what an unauthenticated caller lacks.
type identityV1 struct {
	AccessKey                     *string `json:"accessKey"`
	AccountID                     *string `json:"accountId"`
	Caller                        *string `json:"caller"`
	CognitoAuthenticationProvider *string `json:"cognitoAuthenticationProvider"`
	CognitoAuthenticationType     *string `json:"cognitoAuthenticationType"`
	CognitoIdentityID             *string `json:"cognitoIdentityId"`
	CognitoIdentityPoolID         *string `json:"cognitoIdentityPoolId"`
	PrincipalOrgID                *string `json:"principalOrgId"`
	SourceIP                      string  `json:"sourceIp"`
	User                          *string `json:"user"`
	UserAgent                     string  `json:"userAgent"`
	UserArn                       *string `json:"userArn"`
}

func buildV1(in *inbound) ([]byte, error) { return marshal(newEventV1(in)) }

func newEventV1(in *inbound) *eventV1 {
	resource := in.route.pattern.path
	if in.route.key == DefaultStage {
		resource = DefaultStage
	}
	ev := &eventV1{
		Resource:          resource,
		Path:              in.routePath,
		HTTPMethod:        in.method,
		Headers:           make(map[string]string, len(in.header)+5),
		MultiValueHeaders: make(map[string][]string, len(in.header)+5),
		PathParameters:    in.params,
		StageVariables:    in.api.stageVars,
		RequestContext: requestContextV1{
			AccountID:         in.accountID,
			APIID:             in.api.id,
			DomainName:        in.host,
			DomainPrefix:      domainPrefix(in.host),
			ExtendedRequestID: in.extendedID,
			HTTPMethod:        in.method,
			Identity: identityV1{
				SourceIP:  in.sourceIP,
				UserAgent: in.header.Get("User-Agent"),
			},
			Path:             in.path,
			Protocol:         in.proto,
			RequestID:        in.requestID,
			RequestTime:      in.now.UTC().Format(timeFormat),
			RequestTimeEpoch: in.now.UnixMilli(),
			ResourceID:       in.route.resourceID,
			ResourcePath:     resource,
			Stage:            in.api.stage,
		},
	}
	if in.api.protocol != REST {
		ev.Version = "1.0"
		ev.RequestContext.ExtendedRequestID = in.requestID
		if in.jwt != nil {
			ev.RequestContext.Authorizer = in.jwt
		}
		if in.lambdaAuth != nil {
			m := make(map[string]any, len(in.lambdaAuth.Context)+1)
			for k, v := range in.lambdaAuth.Context {
				m[k] = v
			}
			m["principalId"] = in.lambdaAuth.PrincipalID
			ev.RequestContext.Authorizer = m
		}
	}
	for k, vs := range in.header {
		if k == "Content-Length" {
			continue // API Gateway does not pass it in 1.0 events
		}
		ev.Headers[k] = vs[len(vs)-1]
		ev.MultiValueHeaders[k] = vs
	}
	set := func(k, v string) { ev.Headers[k] = v; ev.MultiValueHeaders[k] = []string{v} }
	set("Host", in.host)
	addForwarded(in, set, "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Amzn-Trace-Id", ev.Headers["X-Forwarded-For"], ev.Headers["X-Amzn-Trace-Id"])
	if in.rawQuery != "" {
		q, _ := url.ParseQuery(in.rawQuery)
		if len(q) > 0 {
			ev.QueryStringParameters = make(map[string]string, len(q))
			ev.MultiValueQueryStringParameters = q
			for k, vs := range q {
				ev.QueryStringParameters[k] = vs[len(vs)-1]
			}
		}
	}
	if len(in.body) > 0 {
		var s string
		binary := false
		if in.api.protocol == REST {
			binary = mediaTypeMatches(in.api.binary, in.header.Get("Content-Type"))
		} else {
			binary = !isTextType(in.header.Get("Content-Type"))
		}
		if binary {
			s = base64.StdEncoding.EncodeToString(in.body)
			ev.IsBase64Encoded = true
		} else {
			s = string(in.body)
		}
		ev.Body = &s
	}
	return ev
}

// marshal encodes an event as AWS does: no HTML escaping ("&" stays "&").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(1024)
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// addForwarded sets the headers API Gateway adds: X-Forwarded-For (the
// caller's chain plus the source address), -Port, -Proto, and a trace id when
// the request carries none.
func addForwarded(in *inbound, set func(k, v string), forKey, portKey, protoKey, traceKey, prevFor, prevTrace string) {
	if prevFor != "" {
		set(forKey, prevFor+", "+in.sourceIP)
	} else {
		set(forKey, in.sourceIP)
	}
	set(portKey, in.port)
	set(protoKey, in.scheme)
	if prevTrace == "" {
		set(traceKey, newTraceRoot(in.now))
	}
}

// newTraceRoot returns an X-Ray root like API Gateway's X-Amzn-Trace-Id:
// "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c".
func newTraceRoot(now time.Time) string {
	var b [12]byte
	rand.Read(b[:])
	var out [7 + 8 + 1 + 24]byte
	copy(out[:], "Root=1-")
	t := uint32(now.Unix())
	const digits = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		out[7+i] = digits[t&0xf]
		t >>= 4
	}
	out[15] = '-'
	hex.Encode(out[16:], b[:])
	return string(out[:])
}

// domainPrefix is the first label of the host ("abc" of abc.execute-api…),
// or the whole host for an IP address.
func domainPrefix(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil {
		return host
	}
	if i := strings.IndexByte(host, '.'); i >= 0 {
		return host[:i]
	}
	return host
}

// isTextType reports whether an HTTP API passes a body of this content type
// as text rather than base64.
func isTextType(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", mt == "application/javascript", mt == "application/xml",
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}

// mediaTypeMatches reports whether contentType matches one of the patterns
// ("image/png", "image/*", "*/*").
func mediaTypeMatches(patterns []string, contentType string) bool {
	if len(patterns) == 0 {
		return false
	}
	mt := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	if mt == "" {
		return false
	}
	typ, _, _ := strings.Cut(mt, "/")
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "*/*" || p == mt || strings.HasSuffix(p, "/*") && strings.TrimSuffix(p, "/*") == typ {
			return true
		}
	}
	return false
}

// lower lower-cases an ASCII header name without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
