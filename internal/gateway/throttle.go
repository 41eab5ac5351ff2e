package gateway

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Throttling, as API Gateway does it: token buckets refilled at a rate
// (requests per second) up to a burst.
//
//   - Route throttling (HTTP and REST): a route's ThrottlingRateLimit and
//     ThrottlingBurstLimit, or else the API's (the stage's default route
//     settings), give each route its own bucket. A rate of zero is
//     unlimited; a burst of zero with a rate means max(1, ceil(rate)).
//   - API keys (REST APIs, usage plans): a route with APIKeyRequired is
//     served only to requests whose x-api-key header holds one of the API's
//     keys; each key has its own bucket (its RateLimit and BurstLimit; zero
//     rate is unlimited) shared by all the API's routes.
//
// A missing or unknown key is 403 {"message":"Forbidden"}; an empty bucket
// 429 {"message":"Too Many Requests"}. Keys are checked first, then the
// key's bucket, then the route's. Buckets are kept by the Gateway across
// configuration changes while their limits stay the same.

// APIKey is a REST API key with its usage plan's throttle.
type APIKey struct {
	Name string `json:"name,omitempty"`
	// Value is what clients send in x-api-key: 20–128 characters.
	Value      string  `json:"value"`
	RateLimit  float64 `json:"rateLimit,omitempty"`
	BurstLimit int     `json:"burstLimit,omitempty"`
}

// tokenBucket is one rate limit. The time comes from the caller, so tests
// drive it with their own clock.
type tokenBucket struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if burst <= 0 {
		b = max(1, math.Ceil(rate))
	}
	return &tokenBucket{rate: rate, burst: b, tokens: b}
}

// take takes a token if there is one. A nil bucket is unlimited.
func (b *tokenBucket) take(now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		if d := now.Sub(b.last).Seconds(); d > 0 {
			b.tokens = min(b.burst, b.tokens+d*b.rate)
		}
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// bucket returns the Gateway's bucket for key with these limits, keeping the
// existing one (and its state) when the limits did not change.
func (g *Gateway) bucket(key string, rate float64, burst int) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	k := key + "\x00" + strconv.FormatFloat(rate, 'g', -1, 64) + "\x00" + strconv.Itoa(burst)
	g.bucketsMu.Lock()
	defer g.bucketsMu.Unlock()
	if b := g.buckets[k]; b != nil {
		return b
	}
	b := newBucket(rate, burst)
	g.buckets[k] = b
	return b
}

// routeBucket is the bucket of a route of a.
func (g *Gateway) routeBucket(a *API, r *Route) *tokenBucket {
	rate, burst := a.ThrottlingRateLimit, a.ThrottlingBurstLimit
	if r.ThrottlingRateLimit > 0 || r.ThrottlingBurstLimit > 0 {
		rate, burst = r.ThrottlingRateLimit, r.ThrottlingBurstLimit
	}
	return g.bucket("route\x00"+a.ID+"\x00"+r.Key, rate, burst)
}

// apiKeys compiles an API's keys: value → bucket (nil: unlimited).
func (g *Gateway) apiKeys(a *API) map[string]*tokenBucket {
	if len(a.APIKeys) == 0 {
		return nil
	}
	m := make(map[string]*tokenBucket, len(a.APIKeys))
	for _, k := range a.APIKeys {
		m[k.Value] = g.bucket("key\x00"+a.ID+"\x00"+k.Value, k.RateLimit, k.BurstLimit)
	}
	return m
}

// admit applies a route's API key requirement and throttles.
func (rt *route) admit(r *http.Request, now time.Time) (errKind, string) {
	if rt.apiKeyRequired {
		key := r.Header.Get("X-Api-Key")
		b, ok := rt.api.keys[key]
		switch {
		case key == "":
			return errForbidden, "no x-api-key header"
		case !ok:
			return errForbidden, "unknown API key"
		case !b.take(now):
			return errThrottled, "API key's usage plan rate exceeded"
		}
	}
	if !rt.bucket.take(now) {
		return errThrottled, "route rate exceeded"
	}
	return errNone, ""
}

func validateThrottling(a *API, add func(string, ...any)) {
	check := func(where string, rate float64, burst int) {
		if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
			add("api %q: %sthrottlingRateLimit must be a non-negative number", a.ID, where)
		}
		if burst < 0 {
			add("api %q: %sthrottlingBurstLimit must not be negative", a.ID, where)
		}
	}
	check("", a.ThrottlingRateLimit, a.ThrottlingBurstLimit)
	for _, r := range a.Routes {
		check(fmt.Sprintf("route %q: ", r.Key), r.ThrottlingRateLimit, r.ThrottlingBurstLimit)
		if r.APIKeyRequired && a.Protocol != REST {
			add("api %q: route %q: apiKeyRequired is for REST APIs", a.ID, r.Key)
		}
	}
	if len(a.APIKeys) > 0 && a.Protocol != REST {
		add("api %q: API keys are for REST APIs", a.ID)
	}
	seen := map[string]bool{}
	for i, k := range a.APIKeys {
		if len(k.Value) < 20 || len(k.Value) > 128 {
			add("api %q: API key %d (%s): the value must have 20-128 characters", a.ID, i, k.Name)
		}
		if seen[k.Value] {
			add("api %q: API key %d (%s): duplicate value", a.ID, i, k.Name)
		}
		seen[k.Value] = true
		if k.RateLimit < 0 || k.BurstLimit < 0 {
			add("api %q: API key %d (%s): rateLimit and burstLimit must not be negative", a.ID, i, k.Name)
		}
	}
}
