package template

import (
	"math"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

// HTTP API throttling, as the stage declares it: DefaultRouteSettings'
// ThrottlingRateLimit and ThrottlingBurstLimit are the API's (every route
// without its own limits), RouteSettings by route key ("GET /items") and an
// HttpApi event's RouteSettings are that route's; the event's win over the
// API's for the same route. A RouteSettings key naming no route is an error
// (as on AWS). Logging and metrics settings are ignored with a note.

// throttle is a rate and burst read from route settings.
type throttle struct {
	rate  float64
	burst int
	set   bool
	path  string
	line  int
}

var routeSettingsNotes = map[string]string{
	"DetailedMetricsEnabled": "metrics are nimbus's own", "LoggingLevel": "access logs are nimbus's own",
	"DataTraceEnabled": "access logs are nimbus's own",
}

// routeSettings reads one route settings map (DefaultRouteSettings, an
// entry of RouteSettings, an event's RouteSettings).
func routeSettings(rd *reader, id string) throttle {
	t := throttle{path: rd.path}
	if rd.n != nil {
		t.line = rd.n.line
	}
	t.set = rd.has("ThrottlingRateLimit") || rd.has("ThrottlingBurstLimit")
	t.rate = rd.number("ThrottlingRateLimit")
	t.burst = rd.integer("ThrottlingBurstLimit", 0, 0, 1<<30)
	rd.rest(id, routeSettingsNotes)
	return t
}

// httpThrottling reads an HTTP API's DefaultRouteSettings and RouteSettings.
func (p *planner) httpThrottling(a *apiPlan, rd *reader) {
	if rd.has("DefaultRouteSettings") {
		t := routeSettings(rd.sub("DefaultRouteSettings"), a.id)
		a.api.ThrottlingRateLimit, a.api.ThrottlingBurstLimit = t.rate, t.burst
	}
	if !rd.has("RouteSettings") {
		return
	}
	rs := rd.sub("RouteSettings")
	if rs.n == nil {
		return
	}
	a.routeSettings = map[string]throttle{}
	for _, key := range rs.n.keys {
		t := routeSettings(rs.sub(key), a.id)
		if t.set {
			a.routeSettings[normalRouteKey(key)] = t
		}
	}
}

// normalRouteKey writes a route key as routes have it ("get /x" → "GET /x").
func normalRouteKey(key string) string {
	m, path, ok := strings.Cut(strings.TrimSpace(key), " ")
	if !ok {
		return key
	}
	return httpMethod(m) + " " + strings.TrimSpace(path)
}

// applyRouteSettings gives the routes their RouteSettings' limits (an
// event's own settings, applied when the route was read, win).
func (p *planner) applyRouteSettings(a *apiPlan, own map[string]bool) {
	for _, key := range sortedKeys(boolKeys(a.routeSettings)) {
		t := a.routeSettings[key]
		i := routeIndex(a.api.Routes, key)
		if i < 0 {
			p.errs.add(errAt(t.line, t.path, "no route %s in %s (RouteSettings keys are route keys such as \"GET /items\")", key, a.id))
			continue
		}
		if own[key] {
			continue
		}
		a.api.Routes[i].ThrottlingRateLimit, a.api.Routes[i].ThrottlingBurstLimit = t.rate, t.burst
	}
}

func boolKeys[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// eventThrottle applies an HttpApi event's RouteSettings to its route.
func eventThrottle(r *gateway.Route, rd *reader, id string) bool {
	if !rd.has("RouteSettings") {
		return false
	}
	t := routeSettings(rd.sub("RouteSettings"), id)
	r.ThrottlingRateLimit, r.ThrottlingBurstLimit = t.rate, t.burst
	return t.set
}

func asFloat(n *node) (float64, bool) {
	if !n.isScalar() || n.kind == kBool {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(n.text), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
