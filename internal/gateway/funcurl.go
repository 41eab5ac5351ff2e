package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// FunctionURL is a function URL configuration, as the gateway serves it.
type FunctionURL struct {
	URLID     string // 32 lower-case letters and digits
	Function  string // function name
	Qualifier string // "$LATEST" (or empty) or an alias
	AuthType  string // NONE or AWS_IAM
	// InvokeMode is BUFFERED (or empty) or RESPONSE_STREAM.
	InvokeMode string
	CORS       *CORS
}

// FunctionURLs finds function URL configurations by URL id.
type FunctionURLs interface {
	LookupURL(urlID string) (FunctionURL, bool)
}

// RequestVerifier checks a request's AWS Signature Version 4 (with its
// body); AWS_IAM function URLs are served only to requests it accepts.
type RequestVerifier interface {
	Verify(r *http.Request, body []byte) error
}

// StreamInvoker is implemented by Invokers that can stream a response
// (invoke.Service); RESPONSE_STREAM function URLs use it when present.
type StreamInvoker interface {
	InvokeStream(ctx context.Context, req invoke.Request, sink invoke.StreamSink) (*invoke.Response, error)
}

var _ StreamInvoker = (*invoke.Service)(nil)

// SetFunctionURLs makes the gateway serve function URLs found in urls;
// verifier (nil when the server has no access keys) checks AWS_IAM ones.
// Call it before serving.
func (g *Gateway) SetFunctionURLs(urls FunctionURLs, verifier RequestVerifier) {
	g.urls, g.verifier = urls, verifier
}

// functionURLTimeout bounds a function URL's wait; the function's own
// timeout (at most 15 minutes) ends it first.
const functionURLTimeout = 15*time.Minute + 30*time.Second

// functionURLTarget recognises a function URL request: by host
// <url-id>.lambda-url.<anything>, or by path /lambda-url/<url-id>/…. It
// returns the URL id and the escaped path the function sees.
func functionURLTarget(r *http.Request) (id, path string, ok bool) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if i := strings.Index(host, ".lambda-url."); i > 0 {
		return strings.ToLower(host[:i]), r.URL.EscapedPath(), true
	}
	escaped := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(escaped, "/lambda-url/")
	if !ok {
		return "", "", false
	}
	id, p, _ := strings.Cut(rest, "/")
	return strings.ToLower(id), "/" + p, true
}

// Function URL answers of its own (AWS's texts).
var (
	urlNotFound  = []byte(`{"Message":null}`)
	urlForbidden = []byte(`{"Message":"Forbidden"}`)
)

func urlError(k errKind) (int, []byte) {
	switch k {
	case errThrottled:
		return 429, []byte(`{"Message":"Rate Exceeded."}`)
	case errTooLarge:
		return 413, []byte(`{"Message":"Request Entity Too Large"}`)
	case errForbidden:
		return 403, urlForbidden
	case errFunction:
		return 502, []byte(`{"Message":"Internal Server Error"}`)
	}
	return 500, []byte(`{"Message":"Internal Server Error"}`)
}

// serveFunctionURL serves one function URL request: payload 2.0, routeKey
// $default, no stage, the URL id as apiId and domainPrefix.
func (g *Gateway) serveFunctionURL(w http.ResponseWriter, r *http.Request, id, escaped string) {
	x := &exchange{r: r, start: g.now(), requestID: g.newUUID(), funcURL: true}
	x.stats = g.metrics.seriesFor("lambda-url", "")
	cfg, found := g.urls.LookupURL(id)
	if !found {
		x.reason = "no function URL " + id
		w.Header().Set("Content-Type", "application/json")
		g.write(w, x, http.StatusNotFound, urlNotFound)
		return
	}
	fn := cfg.Function
	if cfg.Qualifier != "" && cfg.Qualifier != "$LATEST" {
		fn += ":" + cfg.Qualifier
	}
	a := &api{id: id, protocol: HTTP, stage: DefaultStage, cors: newCORSPolicy(cfg.CORS)}
	x.api = a
	x.route = &route{api: a, key: DefaultStage, function: fn, format: PayloadV2, timeout: functionURLTimeout}
	x.stats = g.metrics.seriesFor("lambda-url", cfg.Function)
	x.route.stats = x.stats

	origin, acrm := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
	if r.Method == http.MethodOptions && origin != "" && acrm != "" && a.cors != nil {
		x.preflight = true
		a.cors.preflight(w.Header(), origin, acrm)
		g.write(w, x, http.StatusNoContent, nil)
		return
	}
	fail := func(k errKind, reason string) {
		x.reason = reason
		if k == errClientGone {
			g.observe(x, 499)
			return
		}
		status, body := urlError(k)
		w.Header().Set("Content-Type", "application/json")
		g.write(w, x, status, body)
	}
	body, err := readBody(r, g.cfg.MaxBodyBytes)
	if errors.Is(err, errBodyTooLarge) || r.ContentLength > g.cfg.MaxBodyBytes {
		fail(errTooLarge, "request body too large")
		return
	}
	if err != nil {
		x.reason = "reading request body: " + err.Error()
		g.observe(x, 400)
		return
	}
	if cfg.AuthType == "AWS_IAM" {
		switch {
		case g.verifier == nil:
			fail(errForbidden, "AWS_IAM function URL: the server has no access keys to verify signatures with")
			return
		case g.verifier.Verify(r, body) != nil:
			fail(errForbidden, "AWS_IAM function URL: the request's signature was not accepted")
			return
		}
	}
	in := g.inbound(x, escaped, nil, false, body)
	in.rawPath = escaped
	if p, err := url.PathUnescape(escaped); err == nil {
		in.path, in.routePath = p, p
	}
	ev := newEventV2(in)
	ev.RequestContext.DomainPrefix = id
	ev.PathParameters, ev.StageVariables = nil, nil
	if cfg.AuthType != "AWS_IAM" {
		ev.RequestContext.AccountID = "anonymous"
	}
	payload, err := ev.appendJSON(make([]byte, 0, 1024))
	if err != nil {
		fail(errIntegration, "building the event: "+err.Error())
		return
	}
	if cfg.InvokeMode == "RESPONSE_STREAM" {
		if si, ok := g.inv.(StreamInvoker); ok {
			g.streamFunctionURL(w, x, si, fn, payload, fail)
			return
		}
	}
	istart := g.now()
	resp, kind, reason := g.invoke(r.Context(), x, x.route, payload)
	x.integ = g.now().Sub(istart)
	x.stats.observeIntegration(x.integ)
	if kind != errNone {
		fail(kind, reason)
		return
	}
	res, err := mapV2(resp.Payload)
	if err != nil {
		fail(errFunction, "malformed response: "+err.Error())
		return
	}
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	g.write(w, x, res.status, res.body)
}

// streamFunctionURL runs a RESPONSE_STREAM function URL: the answer goes to
// the client as the function writes it.
func (g *Gateway) streamFunctionURL(w http.ResponseWriter, x *exchange, si StreamInvoker, fn string, payload []byte, fail func(errKind, string)) {
	sink := &urlSink{w: w, g: g, x: x}
	sink.flusher, _ = w.(http.Flusher)
	// The sink's write deadlines would outlive this request on a keep-alive
	// connection (the server has no WriteTimeout to reset them).
	defer http.NewResponseController(w).SetWriteDeadline(time.Time{})
	istart := g.now()
	resp, err := si.InvokeStream(context.WithoutCancel(x.r.Context()), invoke.Request{FunctionName: fn, Payload: payload}, sink)
	x.integ = g.now().Sub(istart)
	x.stats.observeIntegration(x.integ)
	if resp != nil {
		x.lambdaID = resp.RequestID
	}
	if !sink.sent {
		switch {
		case err != nil:
			fail(invokeErrKind(err), "invoke: "+err.Error())
		case resp.FunctionError != "":
			fail(errFunction, "function error ("+resp.FunctionError+")")
		case sink.prelude || sink.bad != "":
			fail(errFunction, "streamed response: "+cmp.Or(sink.bad, ErrNoPrelude.Error()))
		default: // began with nothing written
			sink.begin(http.StatusOK, nil)
			g.observe(x, http.StatusOK)
		}
		return
	}
	if resp != nil && resp.FunctionError != "" {
		x.reason = "function failed mid-stream (" + resp.FunctionError + ")"
	}
	g.observe(x, sink.status)
}

func invokeErrKind(err error) errKind {
	if e, ok := lambda.AsError(err); ok {
		switch e.Status {
		case http.StatusTooManyRequests:
			return errThrottled
		case http.StatusRequestEntityTooLarge:
			return errTooLarge
		}
	}
	return errIntegration
}

// urlSink writes a streamed response to the client. With the HTTP
// integration content type it holds bytes back until the prelude (status,
// headers, cookies) is complete.
type urlSink struct {
	w       http.ResponseWriter
	flusher http.Flusher
	g       *Gateway
	x       *exchange

	contentType string
	prelude     bool   // waiting for the prelude's delimiter
	held        []byte // bytes of the prelude so far
	sent        bool   // the status line went out
	status      int
	broken      bool   // the client is gone, or the prelude is bad: drop the rest
	bad         string // why the prelude is malformed
}

func (s *urlSink) Begin(contentType string) {
	s.contentType = contentType
	if contentType == StreamingContentType {
		s.prelude = true
		return
	}
	s.begin(http.StatusOK, nil)
}

// begin sends the status line and headers.
func (s *urlSink) begin(status int, p *Prelude) {
	h := s.w.Header()
	if p != nil {
		for k, v := range p.Headers {
			h.Set(k, v)
		}
		for k, vs := range p.MultiValueHeaders {
			h.Del(k)
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		for _, c := range p.Cookies {
			h.Add("Set-Cookie", c)
		}
	} else if s.contentType != "" {
		h.Set("Content-Type", s.contentType)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("X-Amzn-Requestid", s.x.requestID)
	if a := s.x.api; a.cors != nil {
		if origin := s.x.r.Header.Get("Origin"); origin != "" {
			a.cors.decorate(h, origin)
		}
	}
	s.w.WriteHeader(status)
	s.sent, s.status = true, status
	s.flush()
}

func (s *urlSink) Write(b []byte) (int, error) {
	n := len(b)
	if s.broken {
		return n, nil
	}
	if s.prelude {
		s.held = append(s.held, b...)
		if bytes.Index(s.held, delimiter) < 0 {
			if len(s.held) >= MaxPrelude {
				s.broken, s.bad, s.held = true, ErrNoPrelude.Error(), nil
			}
			return n, nil
		}
		p, rest, err := ParseStreamingPrelude(bytes.NewReader(s.held))
		s.prelude, s.held = false, nil
		if err != nil {
			s.broken, s.bad = true, err.Error()
			return n, nil
		}
		s.begin(p.StatusCode, &p)
		var buf bytes.Buffer
		buf.ReadFrom(rest)
		if b = buf.Bytes(); len(b) == 0 {
			return n, nil
		}
	} else if !s.sent {
		s.begin(http.StatusOK, nil)
	}
	// A client that stops reading cannot hold the function's stream (and
	// the environment) for more than urlWriteTimeout per write.
	http.NewResponseController(s.w).SetWriteDeadline(time.Now().Add(urlWriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		s.broken = true
		return n, nil
	}
	s.x.respLen += len(b)
	s.flush()
	return n, nil
}

// urlWriteTimeout bounds one write of a streamed body to the client.
const urlWriteTimeout = time.Minute

// Interrupt ends a write stalled on a client that stopped reading, when the
// invocation ends meanwhile (runtimeapi.Interrupter). The client's answer
// is cut short.
func (s *urlSink) Interrupt() {
	http.NewResponseController(s.w).SetWriteDeadline(time.Now())
}

func (s *urlSink) flush() {
	if s.flusher != nil {
		s.flusher.Flush()
	}
}
