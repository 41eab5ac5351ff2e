package lambdaapi

import (
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

// Function URL configurations (CreateFunctionUrlConfig and friends, API
// version 2021-10-31). A function has at most one URL per qualifier ($LATEST,
// i.e. unqualified, or an alias; never a version number), stored on its
// registry record, so deleting the function (or the alias) deletes the URL.
// The URL is http://<lambda.FunctionURLID>.lambda-url.localhost:<gateway port>/,
// served by the gateway.

// SetGatewayAddr sets the gateway's listening address, whose port function URLs name.
func (a *API) SetGatewayAddr(addr string) {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		a.gatewayPort = port
	}
}

// FunctionURL returns the URL of function name's qualifier q.
func (a *API) FunctionURL(name, q string) string {
	host := lambda.FunctionURLID(name, q) + "." + lambda.FunctionURLDomain
	if a.gatewayPort != "" {
		host += ":" + a.gatewayPort
	}
	return "http://" + host + "/"
}

// urlView is FunctionUrlConfig (and the Create/Get/Update outputs) on the wire.
type urlView struct {
	FunctionUrl      string       `json:"FunctionUrl"`
	FunctionArn      string       `json:"FunctionArn"`
	AuthType         string       `json:"AuthType"`
	Cors             *lambda.Cors `json:"Cors,omitempty"`
	InvokeMode       string       `json:"InvokeMode"`
	CreationTime     string       `json:"CreationTime"`
	LastModifiedTime string       `json:"LastModifiedTime,omitempty"`
}

func (a *API) urlView(name, q string, c lambda.FunctionURLConfig) urlView {
	arn := lambda.FunctionARN(name)
	if q != lambda.Latest {
		arn = lambda.QualifiedARN(name, q)
	}
	return urlView{a.FunctionURL(name, q), arn, c.AuthType, c.Cors, c.InvokeMode, c.CreationTime, c.LastModifiedTime}
}

// urlInput is the body of CreateFunctionUrlConfig and UpdateFunctionUrlConfig.
type urlInput struct {
	AuthType   *string      `json:"AuthType"`
	Cors       *lambda.Cors `json:"Cors"`
	InvokeMode *string      `json:"InvokeMode"`
}

var urlQualifierRE = regexp.MustCompile(`^[0-9a-zA-Z_-]{1,128}$`)

// urlFunction resolves the function and the URL's qualifier: $LATEST for an
// unqualified request, else an existing alias.
func (a *API) urlFunction(r *http.Request) (*registry.Function, string, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return nil, "", err
	}
	if q == "" || q == lambda.Latest {
		return fn, lambda.Latest, nil
	}
	if !urlQualifierRE.MatchString(q) || strings.Trim(q, "0123456789") == "" {
		return nil, "", lambda.InvalidParameter(`1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)`, q)
	}
	if _, ok := fn.Aliases[q]; !ok {
		return nil, "", lambda.NotFound("Function not found: %s", lambda.QualifiedARN(fn.Latest.FunctionName, q))
	}
	return fn, q, nil
}

func validateURLInput(in *urlInput, create bool) error {
	var problems []string
	if in.AuthType == nil && create {
		problems = append(problems, "Value null at 'authType' failed to satisfy constraint: Member must not be null")
	}
	if in.AuthType != nil && *in.AuthType != lambda.AuthTypeNone && *in.AuthType != lambda.AuthTypeIAM {
		problems = append(problems, "Value '"+*in.AuthType+"' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]")
	}
	if in.InvokeMode != nil && *in.InvokeMode != lambda.InvokeModeBuffer && *in.InvokeMode != lambda.InvokeModeStream {
		problems = append(problems, "Value '"+*in.InvokeMode+"' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]")
	}
	if c := in.Cors; c != nil {
		lists := []struct {
			field    string
			items    []string
			maxItems int
			maxLen   int
		}{
			{"cors.allowHeaders", c.AllowHeaders, 100, 1024},
			{"cors.allowMethods", c.AllowMethods, 6, 6},
			{"cors.allowOrigins", c.AllowOrigins, 100, 253},
			{"cors.exposeHeaders", c.ExposeHeaders, 100, 1024},
		}
		for _, l := range lists {
			if len(l.items) > l.maxItems {
				problems = append(problems, "Value at '"+l.field+"' failed to satisfy constraint: Member must have length less than or equal to "+itoa(l.maxItems))
			}
			for _, it := range l.items {
				if len(it) == 0 || len(it) > l.maxLen {
					problems = append(problems, "Value '"+it+"' at '"+l.field+"' failed to satisfy constraint: Member must have length between 1 and "+itoa(l.maxLen))
				}
			}
		}
		if m := c.MaxAge; m != nil && (*m < 0 || *m > 86400) {
			problems = append(problems, "Value '"+itoa(*m)+"' at 'cors.maxAge' failed to satisfy constraint: Member must have value between 0 and 86400")
		}
	}
	if len(problems) > 0 {
		return lambda.InvalidParameter("%d validation error%s detected: %s", len(problems), plural(len(problems)), strings.Join(problems, "; "))
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func noURL() error { return lambda.NotFound("The resource you requested does not exist.") }

// urlRequest resolves a Create or Update request's function and qualifier and
// reads its valid body.
func (a *API) urlRequest(r *http.Request, create bool) (*registry.Function, string, urlInput, error) {
	var in urlInput
	fn, q, err := a.urlFunction(r)
	if err == nil {
		err = decode(r, 1<<20, &in)
	}
	if err == nil {
		err = validateURLInput(&in, create)
	}
	return fn, q, in, err
}

func (a *API) createFunctionURL(r *http.Request) (int, any, error) {
	fn, q, in, err := a.urlRequest(r, true)
	if err != nil {
		return 0, nil, err
	}
	name := fn.Latest.FunctionName
	now := time.Now().UTC().Format(lambda.URLTimeFormat)
	c := lambda.FunctionURLConfig{AuthType: *in.AuthType, Cors: in.Cors, InvokeMode: lambda.InvokeModeBuffer, CreationTime: now, LastModifiedTime: now}
	if in.InvokeMode != nil {
		c.InvokeMode = *in.InvokeMode
	}
	if _, err := a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		if _, exists := f.URLs[q]; exists {
			return lambda.Conflict("Failed to create function url config for [functionArn = %s]. Error message:  FunctionUrlConfig exists for this Lambda function", a.urlView(name, q, c).FunctionArn)
		}
		if q != lambda.Latest {
			if _, ok := f.Aliases[q]; !ok { // deleted since urlFunction looked
				return lambda.NotFound("Function not found: %s", lambda.QualifiedARN(name, q))
			}
		}
		if f.URLs == nil {
			f.URLs = map[string]lambda.FunctionURLConfig{}
		}
		f.URLs[q] = c
		return nil
	}); err != nil {
		return 0, nil, err
	}
	v := a.urlView(name, q, c)
	v.LastModifiedTime = "" // CreateFunctionUrlConfig's output has none
	return http.StatusCreated, v, nil
}

func (a *API) getFunctionURL(r *http.Request) (int, any, error) {
	fn, q, err := a.urlFunction(r)
	if err != nil {
		return 0, nil, err
	}
	c, ok := fn.URLs[q]
	if !ok {
		return 0, nil, noURL()
	}
	return http.StatusOK, a.urlView(fn.Latest.FunctionName, q, c), nil
}

func (a *API) updateFunctionURL(r *http.Request) (int, any, error) {
	fn, q, in, err := a.urlRequest(r, false)
	if err != nil {
		return 0, nil, err
	}
	name := fn.Latest.FunctionName
	var out lambda.FunctionURLConfig
	if _, err := a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		c, ok := f.URLs[q]
		if !ok {
			return noURL()
		}
		if in.AuthType != nil {
			c.AuthType = *in.AuthType
		}
		if in.InvokeMode != nil {
			c.InvokeMode = *in.InvokeMode
		}
		if in.Cors != nil {
			c.Cors = in.Cors
		}
		c.LastModifiedTime = time.Now().UTC().Format(lambda.URLTimeFormat)
		f.URLs[q] = c
		out = c
		return nil
	}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.urlView(name, q, out), nil
}

func (a *API) deleteFunctionURL(r *http.Request) (int, any, error) {
	fn, q, err := a.urlFunction(r)
	if err != nil {
		return 0, nil, err
	}
	name := fn.Latest.FunctionName
	if _, err := a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		if _, ok := f.URLs[q]; !ok {
			return noURL()
		}
		delete(f.URLs, q)
		return nil
	}); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) listFunctionURLs(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	maxItems, err := maxItemsParam(r, 50, 50)
	if err != nil {
		return 0, nil, err
	}
	qs := slices.Sorted(maps.Keys(fn.URLs))
	items := make([]urlView, 0, len(qs))
	for _, q := range qs {
		items = append(items, a.urlView(fn.Latest.FunctionName, q, fn.URLs[q]))
	}
	page, next, err := paginate(items, r.URL.Query().Get("Marker"), maxItems, func(v urlView) string { return v.FunctionArn })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		FunctionUrlConfigs []urlView `json:"FunctionUrlConfigs"`
		NextMarker         string    `json:"NextMarker,omitempty"`
	}{page, next}, nil
}
