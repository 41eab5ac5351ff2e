package gateway

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the request latency histogram bounds in seconds.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// routeStats are one route's counters. They are updated with atomics on the
// request path and read at scrape time.
type routeStats struct {
	api, route string
	classes    [5]atomic.Uint64 // 1xx … 5xx
	buckets    []atomic.Uint64  // per bucket, not cumulative; len(latencyBuckets)
	count      atomic.Uint64
	sumNanos   atomic.Uint64

	throttled              atomic.Uint64 // answered 429 by the gateway's own limits
	authCount, authNanos   atomic.Uint64 // Lambda authorizer invocations
	integCount, integNanos atomic.Uint64 // integration calls (function or service)
}

func (s *routeStats) observeAuthorizer(d time.Duration) {
	s.authCount.Add(1)
	s.authNanos.Add(uint64(max(d, 0)))
}

func (s *routeStats) observeIntegration(d time.Duration) {
	s.integCount.Add(1)
	s.integNanos.Add(uint64(max(d, 0)))
}

func (s *routeStats) observe(status int, d time.Duration) {
	if c := status/100 - 1; c >= 0 && c < len(s.classes) {
		s.classes[c].Add(1)
	}
	sec := d.Seconds()
	for i, le := range latencyBuckets {
		if sec <= le {
			s.buckets[i].Add(1)
			break
		}
	}
	s.count.Add(1)
	s.sumNanos.Add(uint64(max(d, 0)))
}

// metricSet owns every series; series survive configuration changes, so
// counters never go backwards.
type metricSet struct {
	mu     sync.Mutex
	series map[[2]string]*routeStats // guarded by mu
}

func newMetricSet() *metricSet { return &metricSet{series: map[[2]string]*routeStats{}} }

// seriesFor returns the stats of (api, route), creating them. An empty route is
// the API's unmatched requests; an empty api, requests that addressed none.
func (m *metricSet) seriesFor(api, route string) *routeStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{api, route}
	s := m.series[k]
	if s == nil {
		s = &routeStats{api: api, route: route, buckets: make([]atomic.Uint64, len(latencyBuckets))}
		m.series[k] = s
	}
	return s
}

// WriteMetrics writes the gateway's metrics in the Prometheus text format:
// nimbus_gateway_requests_total{api,route,code="2xx"} and the histogram
// nimbus_gateway_request_duration_seconds{api,route}. Requests that matched
// no route have route="-"; requests that addressed no API have api="-".
func (g *Gateway) WriteMetrics(w io.Writer) error {
	g.metrics.mu.Lock()
	all := make([]*routeStats, 0, len(g.metrics.series))
	for _, s := range g.metrics.series {
		all = append(all, s)
	}
	g.metrics.mu.Unlock()
	slices.SortFunc(all, func(a, b *routeStats) int {
		if c := strings.Compare(a.api, b.api); c != 0 {
			return c
		}
		return strings.Compare(a.route, b.route)
	})
	bw := bufio.NewWriter(w)
	bw.WriteString("# HELP nimbus_gateway_requests_total Requests answered by the HTTP gateway, by API, route and status class.\n# TYPE nimbus_gateway_requests_total counter\n")
	for _, s := range all {
		for c := range s.classes {
			n := s.classes[c].Load()
			if n == 0 {
				continue
			}
			bw.WriteString("nimbus_gateway_requests_total{")
			labels(bw, s)
			bw.WriteString(`,code="` + strconv.Itoa(c+1) + `xx"} ` + strconv.FormatUint(n, 10) + "\n")
		}
	}
	bw.WriteString("# HELP nimbus_gateway_request_duration_seconds Time from request to answer in the HTTP gateway.\n# TYPE nimbus_gateway_request_duration_seconds histogram\n")
	for _, s := range all {
		count := s.count.Load()
		if count == 0 {
			continue
		}
		var cum uint64
		for i, le := range latencyBuckets {
			cum += s.buckets[i].Load()
			bw.WriteString("nimbus_gateway_request_duration_seconds_bucket{")
			labels(bw, s)
			bw.WriteString(`,le="` + strconv.FormatFloat(le, 'g', -1, 64) + `"} ` + strconv.FormatUint(cum, 10) + "\n")
		}
		bw.WriteString("nimbus_gateway_request_duration_seconds_bucket{")
		labels(bw, s)
		bw.WriteString(`,le="+Inf"} ` + strconv.FormatUint(count, 10) + "\n")
		bw.WriteString("nimbus_gateway_request_duration_seconds_sum{")
		labels(bw, s)
		bw.WriteString("} " + strconv.FormatFloat(float64(s.sumNanos.Load())/1e9, 'g', -1, 64) + "\n")
		bw.WriteString("nimbus_gateway_request_duration_seconds_count{")
		labels(bw, s)
		bw.WriteString("} " + strconv.FormatUint(count, 10) + "\n")
	}
	sums := []struct {
		name, help string
		count      func(*routeStats) uint64
		nanos      func(*routeStats) uint64
	}{
		{"nimbus_gateway_integration_duration_seconds", "Time spent in integrations (function invocations and service calls).",
			func(s *routeStats) uint64 { return s.integCount.Load() }, func(s *routeStats) uint64 { return s.integNanos.Load() }},
		{"nimbus_gateway_authorizer_duration_seconds", "Time spent invoking Lambda authorizers (cache hits excluded).",
			func(s *routeStats) uint64 { return s.authCount.Load() }, func(s *routeStats) uint64 { return s.authNanos.Load() }},
	}
	for _, m := range sums {
		bw.WriteString("# HELP " + m.name + " " + m.help + "\n# TYPE " + m.name + " summary\n")
		for _, s := range all {
			n := m.count(s)
			if n == 0 {
				continue
			}
			bw.WriteString(m.name + "_sum{")
			labels(bw, s)
			bw.WriteString("} " + strconv.FormatFloat(float64(m.nanos(s))/1e9, 'g', -1, 64) + "\n" + m.name + "_count{")
			labels(bw, s)
			bw.WriteString("} " + strconv.FormatUint(n, 10) + "\n")
		}
	}
	bw.WriteString("# HELP nimbus_gateway_throttled_total Requests refused with 429 by route or API key throttling.\n# TYPE nimbus_gateway_throttled_total counter\n")
	for _, s := range all {
		if n := s.throttled.Load(); n > 0 {
			bw.WriteString("nimbus_gateway_throttled_total{")
			labels(bw, s)
			bw.WriteString("} " + strconv.FormatUint(n, 10) + "\n")
		}
	}
	return bw.Flush()
}

func labels(w *bufio.Writer, s *routeStats) {
	api, route := s.api, s.route
	if api == "" {
		api = "-"
	}
	if route == "" {
		route = "-"
	}
	w.WriteString(`api="` + escapeLabel(api) + `",route="` + escapeLabel(route) + `"`)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
