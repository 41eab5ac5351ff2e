package gateway

import (
	"context"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
)

// Invoker runs one synchronous invocation; invoke.Service is the production
// implementation. The gateway passes a context detached from the HTTP
// request's cancellation (a function keeps running when the client leaves or
// the integration times out, as on Lambda), so Invoke must end on its own:
// at the latest when the function's timeout ends it. A function's own failure
// is a Response with FunctionError set; errors are *lambda.Error (429 for a
// throttle, 413 for an oversized payload, 404 for an unknown function) or
// internal failures.
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (*invoke.Response, error)
}

var _ Invoker = (*invoke.Service)(nil)

// Gateway serves the APIs it was given on its ServeHTTP.
type Gateway struct {
	cfg     Config
	inv     Invoker
	log     *slog.Logger
	metrics *metricSet

	snap atomic.Pointer[snapshot] // read lock-free by requests

	mu   sync.Mutex // serialises writers; guards apis
	apis []API      // the current configuration, as given

	wg sync.WaitGroup // invocation goroutines

	services Services     // service integration targets; set before serving
	urls     FunctionURLs // function URL configs; nil serves none
	verifier RequestVerifier

	httpClient *http.Client // JWKS fetches
	jwksMu     sync.Mutex
	jwks       map[string]*jwksSource // by URI and issuer; guarded by jwksMu
	bucketsMu  sync.Mutex
	buckets    map[string]*tokenBucket // by owner and limits; guarded by bucketsMu

	// Test hooks; set before serving.
	now     func() time.Time
	newID   func() string // HTTP API request ids and REST extended ids
	newUUID func() string
}

// New returns a gateway serving no API until SetAPIs is called.
func New(cfg Config, inv Invoker, log *slog.Logger) *Gateway {
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 10 << 20
	}
	g := &Gateway{cfg: cfg, inv: inv, log: log, metrics: newMetricSet(), now: time.Now, newID: newRequestID, newUUID: newUUID,
		httpClient: &http.Client{Timeout: jwksFetchTimeout}, jwks: map[string]*jwksSource{}, buckets: map[string]*tokenBucket{}}
	g.snap.Store(g.compile(nil))
	return g
}

// SetAPIs replaces the whole configuration. It validates every API first and
// changes nothing if any is invalid (the error, a *lambda.Error, lists every
// problem). Requests already routed finish with the configuration they saw.
// The order matters only for plain-address routing (see the package comment).
func (g *Gateway) SetAPIs(apis []API) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.setLocked(cloneAPIs(apis))
}

// PutAPI adds an API or replaces the one with the same id (keeping its
// place in the order).
func (g *Gateway) PutAPI(a API) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	next := cloneAPIs(g.apis)
	i := slices.IndexFunc(next, func(x API) bool { return x.ID == a.ID })
	if i >= 0 {
		next[i] = cloneAPI(a)
	} else {
		next = append(next, cloneAPI(a))
	}
	return g.setLocked(next)
}

// DeleteAPI removes the API with the given id; it reports whether it existed.
func (g *Gateway) DeleteAPI(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.IndexFunc(g.apis, func(x API) bool { return x.ID == id })
	if i < 0 {
		return false
	}
	next := slices.Delete(cloneAPIs(g.apis), i, i+1)
	if err := g.setLocked(next); err != nil { // cannot happen: a subset of a valid set
		g.log.Error("gateway: delete api", "api", id, "err", err)
		return false
	}
	return true
}

// APIs returns a copy of the current configuration.
func (g *Gateway) APIs() []API {
	g.mu.Lock()
	defer g.mu.Unlock()
	return cloneAPIs(g.apis)
}

// Wait blocks until every invocation the gateway started has returned. Call
// it after the HTTP server stopped and, to be quick, after the invoker
// stopped its functions.
func (g *Gateway) Wait() { g.wg.Wait() }

func (g *Gateway) setLocked(apis []API) error {
	if err := validate(apis); err != nil {
		return err
	}
	g.snap.Store(g.compile(apis))
	g.apis = apis
	return nil
}

// snapshot is one immutable, compiled configuration.
type snapshot struct {
	byID map[string]*api
	// Plain-address routing: every API's routes in one trie.
	merged        router
	mergedDefault *route
	plainProtocol Protocol    // whose texts answer an unmatched plain request
	plainNotFound *routeStats // metrics of unmatched plain and unknown-host requests
}

type api struct {
	id        string
	protocol  Protocol
	stage     string
	stageVars map[string]string // nil when empty
	binary    []string          // REST binary media types
	cors      *corsPolicy       // nil without CORS
	router    router
	deflt     *route
	notFound  *routeStats
	keys      map[string]*tokenBucket // API key value → its bucket (REST)
}

type route struct {
	api            *api
	key            string       // "GET /items/{id}" or "$default"
	pattern        routePattern // zero for $default
	nparams        int
	function       string
	format         string // PayloadV1 or PayloadV2
	timeout        time.Duration
	resourceID     string // stable id of the resource (1.0 resourceId)
	stats          *routeStats
	auth           *jwtAuthorizer    // nil when the route is open
	lauth          *lambdaAuthorizer // a Lambda authorizer instead
	scopes         []string
	service        *serviceIntegration // nil for a Lambda proxy integration
	bucket         *tokenBucket        // nil when not throttled
	apiKeyRequired bool
}

func (g *Gateway) compile(apis []API) *snapshot {
	s := &snapshot{byID: make(map[string]*api, len(apis)), plainProtocol: HTTP}
	s.plainNotFound = g.metrics.seriesFor("", "")
	allREST := len(apis) > 0
	for i := range apis {
		cfg := &apis[i]
		a := &api{
			id:       cfg.ID,
			protocol: cfg.Protocol.orDefault(),
			stage:    cfg.stage(),
			binary:   cfg.BinaryMediaTypes,
			cors:     newCORSPolicy(cfg.CORS),
			notFound: g.metrics.seriesFor(cfg.ID, ""),
			keys:     g.apiKeys(cfg),
		}
		if len(cfg.StageVariables) > 0 {
			a.stageVars = cfg.StageVariables
		}
		if a.protocol != REST {
			allREST = false
		}
		auths := map[string]*jwtAuthorizer{}
		lauths := map[string]*lambdaAuthorizer{}
		for name, z := range cfg.Authorizers {
			if z.Type == "REQUEST" {
				lauths[name] = compileLambdaAuthorizer(name, z)
				continue
			}
			auths[name], _ = compileAuthorizer(z, g.jwksSourceFor(z)) // validated
		}
		for _, rc := range cfg.Routes {
			r := &route{
				api:            a,
				key:            rc.Key,
				function:       rc.Integration.Function,
				format:         rc.Integration.payloadFormat(a.protocol),
				timeout:        rc.Integration.timeout(a.protocol),
				stats:          g.metrics.seriesFor(a.id, rc.Key),
				auth:           auths[rc.Authorizer],
				lauth:          lauths[rc.Authorizer],
				scopes:         rc.Scopes,
				service:        compileService(rc.Integration),
				bucket:         g.routeBucket(cfg, &rc),
				apiKeyRequired: rc.APIKeyRequired,
			}
			if rc.Key == DefaultStage {
				a.deflt = r
				r.resourceID = resourceID(a.id, rc.Key)
				continue
			}
			r.pattern, _ = parseRouteKey(rc.Key) // validated
			r.resourceID = resourceID(a.id, r.pattern.path)
			for _, sg := range r.pattern.segs {
				if sg.kind != segLiteral {
					r.nparams++
				}
			}
			a.router.add(r)
			if prev := s.merged.add(r); prev != nil {
				g.log.Warn("gateway: route declared by two APIs; on the plain address the first wins",
					"route", r.key, "api", a.id, "winner", prev.api.id)
			}
		}
		if a.deflt != nil && s.mergedDefault == nil {
			s.mergedDefault = a.deflt
		}
		s.byID[a.id] = a
	}
	if allREST {
		s.plainProtocol = REST
	}
	return s
}

func (a *api) match(method string, segs []string) *route {
	if r := a.router.match(method, segs); r != nil {
		return r
	}
	return a.deflt
}

func (s *snapshot) matchPlain(method string, segs []string) *route {
	if r := s.merged.match(method, segs); r != nil {
		return r
	}
	return s.mergedDefault
}

// hostAPI extracts the API id from a Host of the form <id>.execute-api.<…>.
func hostAPI(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	i := strings.Index(host, ".execute-api.")
	if i <= 0 {
		return "", false
	}
	return strings.ToLower(host[:i]), true
}

// resourceID derives a stable 6-character id (like API Gateway's resource
// ids) from the API id and the resource path.
func resourceID(apiID, path string) string {
	h := fnv.New64a()
	h.Write([]byte(apiID))
	h.Write([]byte{0})
	h.Write([]byte(path))
	v := h.Sum64()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	for i := range b {
		b[i] = alphabet[v%36]
		v /= 36
	}
	return string(b[:])
}

func cloneAPIs(apis []API) []API {
	out := make([]API, len(apis))
	for i, a := range apis {
		out[i] = cloneAPI(a)
	}
	return out
}

func cloneAPI(a API) API {
	a.StageVariables = maps.Clone(a.StageVariables)
	a.BinaryMediaTypes = slices.Clone(a.BinaryMediaTypes)
	a.Routes = slices.Clone(a.Routes)
	for i := range a.Routes {
		a.Routes[i].Scopes = slices.Clone(a.Routes[i].Scopes)
		a.Routes[i].Integration.Parameters = maps.Clone(a.Routes[i].Integration.Parameters)
	}
	a.APIKeys = slices.Clone(a.APIKeys)
	if a.Authorizers != nil {
		zs := make(map[string]Authorizer, len(a.Authorizers))
		for k, z := range a.Authorizers {
			z.Audience = slices.Clone(z.Audience)
			zs[k] = z
		}
		a.Authorizers = zs
	}
	if a.CORS != nil {
		c := *a.CORS
		c.AllowOrigins = slices.Clone(c.AllowOrigins)
		c.AllowMethods = slices.Clone(c.AllowMethods)
		c.AllowHeaders = slices.Clone(c.AllowHeaders)
		c.ExposeHeaders = slices.Clone(c.ExposeHeaders)
		a.CORS = &c
	}
	return a
}
