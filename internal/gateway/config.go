package gateway

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Config configures a Gateway. Zero values are the documented defaults.
type Config struct {
	// AccountID is requestContext.accountId; empty means "000000000000".
	AccountID string
	// MaxBodyBytes caps request bodies; zero means 10 MiB, API Gateway's
	// payload quota. Larger requests are answered 413.
	MaxBodyBytes int64
}

// Protocol is the kind of API: its event format defaults and its error texts.
type Protocol string

// The two API kinds.
const (
	HTTP Protocol = "HTTP" // API Gateway HTTP API (the default)
	REST Protocol = "REST" // API Gateway REST API (payload format 1.0 only)
)

// Payload format versions of Lambda proxy integrations.
const (
	PayloadV1 = "1.0"
	PayloadV2 = "2.0"
)

// DefaultStage is the stage served without a path segment.
const DefaultStage = "$default"

// API is one deployed API: what SetAPIs takes and APIs returns. It is plain
// data (JSON-encodable) so that it can be stored as it is.
type API struct {
	// ID identifies the API in URLs (<id>.execute-api.…) and events (apiId):
	// 1–63 lower-case letters and digits.
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Protocol is HTTP (the default when empty) or REST.
	Protocol Protocol `json:"protocol,omitempty"`
	// Stage is the stage name; empty means $default for HTTP APIs. REST APIs
	// need a named stage (SAM's is "Prod").
	Stage          string            `json:"stage,omitempty"`
	StageVariables map[string]string `json:"stageVariables,omitempty"`
	// BinaryMediaTypes (REST only): request bodies whose content type matches
	// one of these ("image/png", "image/*", "*/*") are base64 encoded in the
	// event, and base64 bodies in responses are decoded.
	BinaryMediaTypes []string `json:"binaryMediaTypes,omitempty"`
	CORS             *CORS    `json:"cors,omitempty"`
	// Authorizers by name (HTTP APIs only); routes refer to them by name.
	Authorizers map[string]Authorizer `json:"authorizers,omitempty"`
	Routes      []Route               `json:"routes"`
	// Stage throttling (HTTP APIs' default route settings): requests per
	// second and burst of a token bucket shared by the routes without their
	// own limits; zero rate means unlimited. See throttle.go.
	ThrottlingRateLimit  float64 `json:"throttlingRateLimit,omitempty"`
	ThrottlingBurstLimit int     `json:"throttlingBurstLimit,omitempty"`
	// APIKeys (REST APIs) are the keys accepted on routes with APIKeyRequired,
	// each with its usage plan's rate and burst.
	APIKeys []APIKey `json:"apiKeys,omitempty"`
}

// Route sends requests matching Key to an integration.
type Route struct {
	// Key is "METHOD /path" or "$default"; see the package comment.
	Key         string      `json:"key"`
	Integration Integration `json:"integration"`
	// Authorizer names one of the API's Authorizers; empty means none.
	Authorizer string `json:"authorizer,omitempty"`
	// Scopes (with an authorizer): the token must have at least one.
	Scopes []string `json:"scopes,omitempty"`
	// Route throttling, overriding the stage's for this route.
	ThrottlingRateLimit  float64 `json:"throttlingRateLimit,omitempty"`
	ThrottlingBurstLimit int     `json:"throttlingBurstLimit,omitempty"`
	// APIKeyRequired (REST APIs): requests need an x-api-key header holding
	// one of the API's keys.
	APIKeyRequired bool `json:"apiKeyRequired,omitempty"`
}

// Integration is a Lambda proxy integration or, with a Type naming a
// service action, a first-class AWS service integration (integration.go).
type Integration struct {
	// Type is empty (or AWS_PROXY) for a Lambda proxy integration, or one of
	// SQS-SendMessage, SNS-Publish, StepFunctions-StartExecution,
	// StepFunctions-StartSyncExecution.
	Type string `json:"type,omitempty"`
	// Parameters (service integrations): the action's parameters by AWS
	// name, each a mapping expression (mapping.go).
	Parameters map[string]string `json:"parameters,omitempty"`
	// Function is a function name, name:qualifier, or (partial) ARN.
	Function string `json:"function,omitempty"`
	// PayloadFormat is "2.0" or "1.0"; empty means 2.0 for HTTP APIs. REST
	// APIs always use 1.0.
	PayloadFormat string `json:"payloadFormat,omitempty"`
	// TimeoutMillis is the integration timeout, 50–30000; zero means 30000
	// for HTTP APIs and 29000 for REST APIs.
	TimeoutMillis int `json:"timeoutMillis,omitempty"`
}

// CORS is an HTTP API's CORS configuration. It takes effect when AllowOrigins
// is not empty.
type CORS struct {
	// AllowOrigins are origins ("https://example.com"), "*", or wildcard
	// subdomains ("https://*.example.com").
	AllowOrigins  []string `json:"allowOrigins,omitempty"`
	AllowMethods  []string `json:"allowMethods,omitempty"` // "*" allows every method
	AllowHeaders  []string `json:"allowHeaders,omitempty"`
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// MaxAge is Access-Control-Max-Age in seconds; zero sends none.
	MaxAge           int  `json:"maxAge,omitempty"`
	AllowCredentials bool `json:"allowCredentials,omitempty"`
}

func (p Protocol) orDefault() Protocol {
	if p == "" {
		return HTTP
	}
	return p
}

func (a *API) stage() string {
	if a.Stage == "" {
		return DefaultStage
	}
	return a.Stage
}

func (i *Integration) payloadFormat(p Protocol) string {
	if p == REST || i.PayloadFormat == PayloadV1 {
		return PayloadV1
	}
	return PayloadV2
}

func (i *Integration) timeout(p Protocol) time.Duration {
	switch {
	case i.TimeoutMillis > 0:
		return time.Duration(i.TimeoutMillis) * time.Millisecond
	case p == REST:
		return 29 * time.Second
	}
	return 30 * time.Second
}

// validate reports every problem of a set of APIs as one Validation error.
func validate(apis []API) error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	ids := map[string]bool{}
	for i := range apis {
		a := &apis[i]
		if !validID(a.ID) {
			add("api %q: id must be 1-63 lower-case letters and digits", a.ID)
		}
		if ids[a.ID] {
			add("api %q: duplicate id", a.ID)
		}
		ids[a.ID] = true
		switch a.Protocol {
		case "", HTTP:
		case REST:
			if a.Stage == "" || a.Stage == DefaultStage {
				add("api %q: a REST API needs a named stage", a.ID)
			}
		default:
			add("api %q: protocol must be HTTP or REST, not %q", a.ID, a.Protocol)
		}
		if s := a.Stage; s != "" && s != DefaultStage && !validStage(s) {
			add("api %q: stage %q must be letters, digits, '-' or '_' (at most 128)", a.ID, s)
		}
		if c := a.CORS; c != nil && c.AllowCredentials {
			for _, o := range c.AllowOrigins {
				if o == "*" {
					add("api %q: CORS allowCredentials cannot be used with the wildcard origin \"*\"", a.ID)
				}
			}
		}
		if c := a.CORS; c != nil && c.MaxAge < 0 {
			add("api %q: CORS maxAge must not be negative", a.ID)
		}
		for name, z := range a.Authorizers {
			validateAuthorizer(a, name, &z, add)
		}
		validateThrottling(a, add)
		keys := map[string]string{} // method + path shape → route key
		for _, r := range a.Routes {
			if r.Key == DefaultStage {
				if a.Protocol == REST {
					add("api %q: REST APIs have no $default route", a.ID)
				}
				if keys["$default"] != "" {
					add("api %q: duplicate route $default", a.ID)
				}
				keys["$default"] = r.Key
			} else if p, err := parseRouteKey(r.Key); err != nil {
				add("api %q: %v", a.ID, err)
			} else {
				shape := p.method + " " + p.shape()
				if prev := keys[shape]; prev != "" {
					add("api %q: route %q conflicts with %q", a.ID, r.Key, prev)
				}
				keys[shape] = r.Key
			}
			if _, ok := a.Authorizers[r.Authorizer]; r.Authorizer != "" && !ok {
				add("api %q: route %q: no authorizer named %q", a.ID, r.Key, r.Authorizer)
			}
			if len(r.Scopes) > 0 && r.Authorizer == "" {
				add("api %q: route %q: scopes need an authorizer", a.ID, r.Key)
			}
			in := r.Integration
			validateIntegration(a, &r, add)
			if in.PayloadFormat != "" && in.PayloadFormat != PayloadV1 && in.PayloadFormat != PayloadV2 {
				add("api %q: route %q: payload format must be 1.0 or 2.0", a.ID, r.Key)
			}
			if in.TimeoutMillis != 0 && (in.TimeoutMillis < 50 || in.TimeoutMillis > 30000) {
				add("api %q: route %q: timeout must be 50-30000 ms", a.ID, r.Key)
			}
		}
	}
	if len(errs) > 0 {
		return lambda.Validation("%s", strings.Join(errs, "; "))
	}
	return nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func validStage(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var errEmptyKey = errors.New("empty route key")
