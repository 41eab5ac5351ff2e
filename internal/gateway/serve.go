package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// exchange is one request on its way through the gateway.
type exchange struct {
	r     *http.Request
	start time.Time

	api   *api   // nil when no API was addressed
	route *route // nil when nothing matched
	stats *routeStats

	requestID  string        // requestContext.requestId
	extendedID string        // REST extendedRequestId
	lambdaID   string        // the invocation's request id, once known
	preflight  bool          // answered as a CORS preflight
	reason     string        // why the gateway answered an error (logged, never sent)
	funcURL    bool          // a function URL request
	integ      time.Duration // time spent in the integration
	respLen    int           // response body bytes
}

// ServeHTTP routes, invokes and answers one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.urls != nil {
		if id, path, ok := functionURLTarget(r); ok {
			g.serveFunctionURL(w, r, id, path)
			return
		}
	}
	x := &exchange{r: r, start: g.now()}
	snap := g.snap.Load()
	escaped := r.URL.EscapedPath()
	origin := r.Header.Get("Origin")
	acrm := r.Header.Get("Access-Control-Request-Method")
	segs, stageSeg, cors, noRoute := g.route(x, snap, escaped, acrm)
	if x.api != nil && x.api.protocol == REST {
		x.requestID, x.extendedID = g.newUUID(), g.newID()
	} else {
		x.requestID = g.newID()
	}

	if r.Method == http.MethodOptions && origin != "" && acrm != "" && cors != nil {
		x.preflight = true
		cors.preflight(w.Header(), origin, acrm)
		g.write(w, x, http.StatusNoContent, nil)
		return
	}
	if x.route == nil {
		g.fail(w, x, noRoute, errNoRoute, "no route")
		return
	}
	rt := x.route
	proto := rt.api.protocol
	if kind, reason := rt.admit(r, x.start); kind != errNone {
		if kind == errThrottled {
			x.stats.throttled.Add(1)
		}
		g.fail(w, x, proto, kind, reason)
		return
	}

	var jwt *jwtContext
	if rt.auth != nil {
		var kind errKind
		var reason string
		if jwt, kind, reason = rt.auth.authorize(r, rt.scopes, x.start); kind != errNone {
			w.Header().Set("Www-Authenticate", wwwAuthenticate(kind, reason, rt.scopes))
			g.fail(w, x, proto, kind, reason)
			return
		}
	}

	var lauth *lambdaAuthContext
	if rt.lauth != nil {
		var kind errKind
		var reason string
		if lauth, kind, reason = g.authorizeLambda(r.Context(), x, rt.lauth, g.inbound(x, escaped, segs, stageSeg, nil)); kind != errNone {
			g.fail(w, x, proto, kind, reason)
			return
		}
	}

	if r.ContentLength > g.cfg.MaxBodyBytes {
		g.fail(w, x, proto, errTooLarge, "request body too large")
		return
	}
	body, err := readBody(r, g.cfg.MaxBodyBytes)
	if errors.Is(err, errBodyTooLarge) {
		g.fail(w, x, proto, errTooLarge, "request body too large")
		return
	}
	if err != nil {
		x.reason = "reading request body: " + err.Error()
		g.observe(x, 400)
		return // the client is gone or broke the protocol; nothing to answer
	}

	in := g.inbound(x, escaped, segs, stageSeg, body)
	in.jwt, in.lambdaAuth = jwt, lauth
	if rt.service != nil {
		g.serveService(w, x, rt, in)
		return
	}
	var payload []byte
	if rt.format == PayloadV1 {
		payload, err = buildV1(in)
	} else {
		payload, err = buildV2(in)
	}
	if err != nil { // cannot happen: the event is made of strings and maps
		g.fail(w, x, proto, errIntegration, "building the event: "+err.Error())
		return
	}

	istart := g.now()
	resp, kind, reason := g.invoke(r.Context(), x, rt, payload)
	x.integ = g.now().Sub(istart)
	x.stats.observeIntegration(x.integ)
	if kind != errNone {
		g.fail(w, x, proto, kind, reason)
		return
	}
	var res result
	if rt.format == PayloadV1 {
		res, err = mapV1(resp.Payload, proto != REST || rt.api.decodesBinary(r.Header.Get("Accept")))
	} else {
		res, err = mapV2(resp.Payload)
	}
	if err != nil {
		g.fail(w, x, proto, errFunction, "malformed Lambda proxy response: "+err.Error())
		return
	}
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	g.write(w, x, res.status, res.body)
}

// route finds the API and route of a request (setting x.api, x.route and
// x.stats) and returns the route's path segments, whether a stage segment
// was removed, the CORS policy that answers a preflight (nil for none), and
// whose error texts answer when no route matched.
func (g *Gateway) route(x *exchange, snap *snapshot, escaped, acrm string) (segs []string, stageSeg bool, cors *corsPolicy, noRoute Protocol) {
	r := x.r
	segs = splitPath(escaped)
	x.stats, noRoute = snap.plainNotFound, snap.plainProtocol
	if id, byHost := hostAPI(r.Host); byHost {
		noRoute = HTTP
		a := snap.byID[id]
		if a == nil {
			return segs, false, nil, noRoute
		}
		x.api, x.stats, noRoute, cors = a, a.notFound, a.protocol, a.cors
		if a.stage != DefaultStage {
			if len(segs) == 0 || segs[0] != a.stage {
				return segs, false, cors, noRoute
			}
			segs, stageSeg = segs[1:], true
		}
		x.route = a.match(r.Method, segs)
	} else {
		x.route = snap.matchPlain(r.Method, segs)
		if x.route != nil {
			x.api = x.route.api
			cors = x.api.cors
		}
		if r.Method == http.MethodOptions && acrm != "" {
			// A preflight is answered by the CORS policy of the API that
			// serves the method it asks about.
			if pr := snap.matchPlain(acrm, segs); pr != nil {
				cors = pr.api.cors
				if cors != nil {
					x.api = pr.api
				}
			}
		}
	}
	if x.route != nil {
		x.stats = x.route.stats
	}
	return segs, stageSeg, cors, noRoute
}

// invoke runs the integration, waiting at most the integration timeout. When
// the invoker can tell that the invocation cannot outlast that timeout (a
// Bounder: the function's own limits end it first), it runs on the request's
// goroutine; otherwise on one of its own, which outlives a timeout or a
// departed client: the function runs to its end, as on Lambda. (The hand-over
// to another goroutine costs ~20 µs of the request's latency on a small VM.)
func (g *Gateway) invoke(ctx context.Context, x *exchange, rt *route, payload []byte) (*invoke.Response, errKind, string) {
	type outcome struct {
		resp *invoke.Response
		err  error
	}
	var o outcome
	req := invoke.Request{FunctionName: rt.function, Payload: payload}
	if b, ok := g.inv.(Bounder); ok && bounded(b, rt) {
		o.resp, o.err = g.inv.Invoke(context.WithoutCancel(ctx), req)
	} else {
		done := make(chan outcome, 1)
		detached := context.WithoutCancel(ctx)
		g.wg.Go(func() {
			resp, err := g.inv.Invoke(detached, req)
			done <- outcome{resp, err}
		})
		t := time.NewTimer(rt.timeout)
		defer t.Stop()
		select {
		case o = <-done:
		case <-t.C:
			return nil, errTimeout, "integration timed out after " + rt.timeout.String()
		case <-ctx.Done():
			return nil, errClientGone, "client closed the connection"
		}
	}
	if o.err != nil {
		e, ok := lambda.AsError(o.err)
		switch {
		case !ok:
			g.log.Error("gateway: invoke failed", "api", rt.api.id, "route", rt.key, "function", rt.function, "err", o.err)
			return nil, errIntegration, "invoke failed"
		case e.Status == http.StatusTooManyRequests:
			return nil, errThrottled, e.Code + ": " + e.Reason
		case e.Status == http.StatusRequestEntityTooLarge:
			return nil, errTooLarge, "event too large for the function: " + e.Message
		default:
			return nil, errIntegration, e.Code + ": " + e.Message
		}
	}
	x.lambdaID = o.resp.RequestID
	if o.resp.FunctionError != "" {
		return nil, errFunction, "function error (" + o.resp.FunctionError + ")"
	}
	return o.resp, errNone, ""
}

// serveService answers a route with a service integration.
func (g *Gateway) serveService(w http.ResponseWriter, x *exchange, rt *route, in *inbound) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.r.Context()), rt.timeout)
	defer cancel()
	start := g.now()
	status, body, err := g.callService(ctx, rt.service, in)
	x.integ = g.now().Sub(start)
	x.stats.observeIntegration(x.integ)
	if err != nil {
		status, body = g.serviceError(x, rt.service, err)
	}
	w.Header().Set("Content-Type", "application/json")
	g.write(w, x, status, body)
}

var errBodyTooLarge = errors.New("request body too large")

func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var buf []byte
	if n := r.ContentLength; n > 0 {
		buf = make([]byte, 0, min(n+1, 1<<20)) // +1: the final read (EOF) needs no growth
	} else {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// fail answers a gateway-made error.
func (g *Gateway) fail(w http.ResponseWriter, x *exchange, p Protocol, kind errKind, reason string) {
	x.reason = reason
	if kind == errClientGone {
		g.observe(x, 499)
		return
	}
	status, body := errorResponse(p, kind)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if p == REST && kind == errNoRoute {
		h.Set("X-Amzn-Errortype", "MissingAuthenticationTokenException")
	}
	g.write(w, x, status, body)
}

// write sends the answer with the headers every answer carries (request ids,
// CORS) and records it.
func (g *Gateway) write(w http.ResponseWriter, x *exchange, status int, body []byte) {
	h := w.Header()
	if x.funcURL {
		h.Set("X-Amzn-Requestid", cmp.Or(x.lambdaID, x.requestID))
	} else if x.api != nil && x.api.protocol == REST {
		h.Set("X-Amzn-Requestid", x.requestID)
		h.Set("X-Amz-Apigw-Id", x.extendedID)
	} else {
		h.Set("Apigw-Requestid", x.requestID)
	}
	if x.api != nil && x.api.cors != nil && !x.preflight {
		if origin := x.r.Header.Get("Origin"); origin != "" {
			x.api.cors.decorate(h, origin)
		}
	}
	if status == http.StatusNoContent || status == http.StatusNotModified || status < 200 {
		body = nil
	} else {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	x.respLen = len(body)
	w.WriteHeader(status)
	if len(body) > 0 {
		w.Write(body) // an error here is the client's; nothing to do
	}
	g.observe(x, status)
}

// observe records the metrics and writes the access log line.
func (g *Gateway) observe(x *exchange, status int) {
	latency := g.now().Sub(x.start)
	x.stats.observe(status, latency)
	ctx := x.r.Context()
	if !g.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 14)
	apiID, routeKey := "-", "-"
	if x.api != nil {
		apiID = x.api.id
	}
	if x.route != nil {
		routeKey = x.route.key
	}
	attrs = append(attrs,
		slog.String("api", apiID),
		slog.String("route", routeKey),
		slog.String("method", x.r.Method),
		slog.String("path", x.r.URL.Path),
		slog.Int("status", status),
		slog.Duration("latency", latency),
		slog.String("request_id", x.requestID),
		slog.String("source_ip", sourceIP(x.r)),
		slog.String("protocol", x.r.Proto),
		slog.Int("response_length", x.respLen),
	)
	if x.integ > 0 {
		attrs = append(attrs, slog.Duration("integration_latency", x.integ))
	}
	if x.lambdaID != "" {
		attrs = append(attrs, slog.String("lambda_request_id", x.lambdaID))
	}
	if x.reason != "" {
		attrs = append(attrs, slog.String("error", x.reason))
	}
	g.log.LogAttrs(ctx, slog.LevelInfo, "gateway", attrs...)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newRequestID returns an HTTP API style request id: 16 characters of
// base64url ending in '=' ("LV7fzho-PHcEJPw=").
func newRequestID() string {
	var b [11]byte
	rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

func newUUID() string { return lambda.NewRequestID() }

// wwwAuthenticate is the challenge of a refused request, as HTTP APIs send it.
func wwwAuthenticate(kind errKind, reason string, scopes []string) string {
	switch {
	case reason == "no token in the identity source":
		return "Bearer"
	case kind == errForbidden:
		return `Bearer scope="` + strings.Join(scopes, " ") + `" error="insufficient_scope" error_description="` + reason + `"`
	}
	return `Bearer scope="" error="invalid_token" error_description="` + reason + `"`
}

// decodesBinary reports whether a REST API decodes base64 response bodies for
// a request accepting accept: when one of its binary media types matches.
func (a *api) decodesBinary(accept string) bool {
	if len(a.binary) == 0 {
		return false
	}
	for _, t := range strings.Split(accept, ",") {
		if mediaTypeMatches(a.binary, t) {
			return true
		}
	}
	return false
}

// Bounder is implemented by invokers that know how long a synchronous
// invocation can take at the most (invoke.Service).
type Bounder interface {
	MaxDuration(function string) (time.Duration, bool)
}

var _ Bounder = (*invoke.Service)(nil)

func bounded(b Bounder, rt *route) bool {
	d, ok := b.MaxDuration(rt.function)
	return ok && d <= rt.timeout
}
