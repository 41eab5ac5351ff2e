package gateway

import (
	"net/http"
	"strconv"
	"strings"
)

// corsPolicy is a compiled CORS configuration.
type corsPolicy struct {
	anyOrigin                                 bool
	origins                                   map[string]bool // lower-cased exact origins
	wildcards                                 [][2]string     // "https://*.example.com" → {"https://", ".example.com"}
	anyMethod                                 bool
	methods                                   map[string]bool
	allowMethods, allowHeaders, exposeHeaders string
	maxAge                                    string
	credentials                               bool
}

func newCORSPolicy(c *CORS) *corsPolicy {
	if c == nil || len(c.AllowOrigins) == 0 {
		return nil
	}
	p := &corsPolicy{
		origins:       map[string]bool{},
		methods:       map[string]bool{},
		allowMethods:  strings.Join(c.AllowMethods, ","),
		allowHeaders:  strings.Join(c.AllowHeaders, ","),
		exposeHeaders: strings.Join(c.ExposeHeaders, ","),
		credentials:   c.AllowCredentials,
	}
	if c.MaxAge > 0 {
		p.maxAge = strconv.Itoa(c.MaxAge)
	}
	for _, o := range c.AllowOrigins {
		o = strings.ToLower(strings.TrimSpace(o))
		switch {
		case o == "*":
			p.anyOrigin = true
		case strings.Contains(o, "://*."):
			scheme, rest, _ := strings.Cut(o, "*")
			p.wildcards = append(p.wildcards, [2]string{scheme, rest})
		default:
			p.origins[strings.TrimSuffix(o, "/")] = true
		}
	}
	for _, m := range c.AllowMethods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "*" {
			p.anyMethod = true
		}
		p.methods[m] = true
	}
	return p
}

// allowed returns the Access-Control-Allow-Origin value for origin, or "".
func (p *corsPolicy) allowed(origin string) string {
	o := strings.ToLower(origin)
	if p.origins[o] {
		return origin
	}
	for _, w := range p.wildcards {
		if strings.HasPrefix(o, w[0]) && strings.HasSuffix(o, w[1]) && len(o) > len(w[0])+len(w[1]) {
			return origin
		}
	}
	if p.anyOrigin {
		return "*"
	}
	return ""
}

// preflight sets the answer to a preflight request. A disallowed origin or
// method gets no CORS headers, so the browser refuses the request.
func (p *corsPolicy) preflight(h http.Header, origin, method string) {
	allow := p.allowed(origin)
	if allow == "" || !p.anyMethod && !p.methods[strings.ToUpper(method)] {
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if p.allowMethods != "" {
		h.Set("Access-Control-Allow-Methods", p.allowMethods)
	}
	if p.allowHeaders != "" {
		h.Set("Access-Control-Allow-Headers", p.allowHeaders)
	}
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if allow != "*" {
		h.Add("Vary", "Origin")
	}
}

// decorate replaces any CORS headers of an answer with the API's.
func (p *corsPolicy) decorate(h http.Header, origin string) {
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	allow := p.allowed(origin)
	if allow == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if p.exposeHeaders != "" {
		h.Set("Access-Control-Expose-Headers", p.exposeHeaders)
	}
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if allow != "*" {
		h.Add("Vary", "Origin")
	}
}
