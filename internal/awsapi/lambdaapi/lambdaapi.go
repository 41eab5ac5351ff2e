// Package lambdaapi serves the Lambda REST-JSON API (the /2015-03-31/functions…
// family and GetAccountSettings) over the function registry, the code store and
// the invoke front door. It only decodes, validates the wire shapes, calls the
// platform and encodes; all errors travel as lambda.Error and are written by awsapi.
package lambdaapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/nimbus-dev/nimbus/internal/artifact"
	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/concurrency"
	"github.com/nimbus-dev/nimbus/internal/events/esm"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
)

// MaxCreateBody bounds CreateFunction/UpdateFunctionCode bodies: a 50 MB zip in base64 plus the configuration.
const MaxCreateBody = 69905067

// Scheduler is what the API needs of the scheduler: to retire environments of changed functions.
type Scheduler interface {
	Retire(name string)
}

// API is the Lambda API handler set.
type API struct {
	log      *slog.Logger
	reg      *registry.Registry
	code     *artifact.Store
	runtimes *runtimes.Catalogue
	invoke   *invoke.Service
	sched    Scheduler
	limiter  *concurrency.Limiter
	limits   Limits
	// reserving serialises the changes checked against the account's
	// unreserved minimum (reserved and provisioned concurrency): each check
	// reads other functions' records, so two changes of different functions
	// must not both pass it.
	reserving sync.Mutex
	esm       *esm.Service // nil until SetEventSources
	// gatewayPort is the port function URLs name (SetGatewayAddr).
	gatewayPort string
}

// Limits configures account-level validation.
type Limits struct {
	// UnreservedMin is how much of the account limit reservations must leave unreserved; zero means 100.
	UnreservedMin int
}

// New returns the API.
func New(log *slog.Logger, reg *registry.Registry, code *artifact.Store, rt *runtimes.Catalogue, inv *invoke.Service, s Scheduler, lim *concurrency.Limiter, limits Limits) *API {
	if limits.UnreservedMin == 0 {
		limits.UnreservedMin = 100
	}
	return &API{log: log, reg: reg, code: code, runtimes: rt, invoke: inv, sched: s, limiter: lim, limits: limits}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	const fns = "/2015-03-31/functions"
	mux.HandleFunc("POST "+fns, a.handle(a.createFunction))
	mux.HandleFunc("POST "+fns+"/{$}", a.handle(a.createFunction))
	mux.HandleFunc("GET "+fns+"/{$}", a.handle(a.listFunctions))
	mux.HandleFunc("GET "+fns, a.handle(a.listFunctions))
	mux.HandleFunc("GET "+fns+"/{name}", a.handle(a.getFunction))
	mux.HandleFunc("GET "+fns+"/{name}/configuration", a.handle(a.getFunctionConfiguration))
	mux.HandleFunc("PUT "+fns+"/{name}/configuration", a.handle(a.updateFunctionConfiguration))
	mux.HandleFunc("PUT "+fns+"/{name}/code", a.handle(a.updateFunctionCode))
	mux.HandleFunc("DELETE "+fns+"/{name}", a.handle(a.deleteFunction))
	mux.HandleFunc("POST "+fns+"/{name}/versions", a.handle(a.publishVersion))
	mux.HandleFunc("GET "+fns+"/{name}/versions", a.handle(a.listVersions))
	mux.HandleFunc("POST "+fns+"/{name}/invocations", a.invokeHandler)
	mux.HandleFunc("POST /2014-11-13/functions/{name}/invoke-async/{$}", a.invokeAsyncHandler)
	mux.HandleFunc("POST /2014-11-13/functions/{name}/invoke-async", a.invokeAsyncHandler)
	mux.HandleFunc("GET /2016-08-19/account-settings/{$}", a.handle(a.accountSettings))
	mux.HandleFunc("GET /2016-08-19/account-settings", a.handle(a.accountSettings))
	mux.HandleFunc("GET /nimbus/v1/code/{sha}", a.codeBlob)
	mux.HandleFunc("PUT /2017-10-31/functions/{name}/concurrency", a.handle(a.putFunctionConcurrency))
	mux.HandleFunc("GET /2019-09-30/functions/{name}/concurrency", a.handle(a.getFunctionConcurrency))
	mux.HandleFunc("DELETE /2017-10-31/functions/{name}/concurrency", a.handle(a.deleteFunctionConcurrency))
	mux.HandleFunc("PUT /2019-09-30/functions/{name}/provisioned-concurrency", a.handle(a.putProvisioned))
	mux.HandleFunc("GET /2019-09-30/functions/{name}/provisioned-concurrency", a.handle(a.getProvisioned))
	mux.HandleFunc("DELETE /2019-09-30/functions/{name}/provisioned-concurrency", a.handle(a.deleteProvisioned))
	const esms = "/2015-03-31/event-source-mappings"
	mux.HandleFunc("POST "+esms+"/{$}", a.handle(a.createESM))
	mux.HandleFunc("POST "+esms, a.handle(a.createESM))
	mux.HandleFunc("GET "+esms+"/{$}", a.handle(a.listESM))
	mux.HandleFunc("GET "+esms, a.handle(a.listESM))
	mux.HandleFunc("GET "+esms+"/{uuid}", a.handle(a.getESM))
	mux.HandleFunc("PUT "+esms+"/{uuid}", a.handle(a.updateESM))
	mux.HandleFunc("DELETE "+esms+"/{uuid}", a.handle(a.deleteESM))
	const eic = "/2019-09-25/functions/{name}/event-invoke-config"
	mux.HandleFunc("PUT "+eic, a.handle(a.putEventInvoke(false)))
	mux.HandleFunc("POST "+eic, a.handle(a.putEventInvoke(true)))
	mux.HandleFunc("GET "+eic, a.handle(a.getEventInvoke))
	mux.HandleFunc("DELETE "+eic, a.handle(a.deleteEventInvoke))
	mux.HandleFunc("GET "+eic+"/list", a.handle(a.listEventInvoke))
	mux.HandleFunc("POST "+fns+"/{name}/aliases", a.handle(a.createAlias))
	mux.HandleFunc("GET "+fns+"/{name}/aliases", a.handle(a.listAliases))
	mux.HandleFunc("GET "+fns+"/{name}/aliases/{alias}", a.handle(a.getAlias))
	mux.HandleFunc("PUT "+fns+"/{name}/aliases/{alias}", a.handle(a.updateAlias))
	mux.HandleFunc("DELETE "+fns+"/{name}/aliases/{alias}", a.handle(a.deleteAlias))
	const urls = "/2021-10-31/functions/{name}"
	mux.HandleFunc("POST "+urls+"/url", a.handle(a.createFunctionURL))
	mux.HandleFunc("GET "+urls+"/url", a.handle(a.getFunctionURL))
	mux.HandleFunc("PUT "+urls+"/url", a.handle(a.updateFunctionURL))
	mux.HandleFunc("DELETE "+urls+"/url", a.handle(a.deleteFunctionURL))
	mux.HandleFunc("GET "+urls+"/urls", a.handle(a.listFunctionURLs))
	mux.HandleFunc("POST /2021-11-15/functions/{name}/response-streaming-invocations", a.invokeStreamHandler)
}

// op is a JSON operation: it returns the status and the value to encode, or an error.
type op func(r *http.Request) (int, any, error)

func (a *API) handle(f op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		status, v, err := f(r)
		if err != nil {
			awsapi.WriteError(w, a.log, err)
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		awsapi.WriteJSON(w, status, v)
	}
}

func decode(r *http.Request, max int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return lambda.InvalidRequestContent("The request body could not be read")
	}
	if int64(len(body)) > max {
		return &lambda.Error{Code: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
			Message: "Request must be smaller than " + strconv.FormatInt(max, 10) + " bytes for the operation"}
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return lambda.InvalidRequestContent("Could not parse request body into json: field %s has the wrong type (%s)", te.Field, te.Value)
		}
		return lambda.InvalidRequestContent("Could not parse request body into json: %s", err.Error())
	}
	return nil
}

// function resolves the {name} path value (a name or ARN, maybe qualified) and the Qualifier parameter.
func (a *API) function(r *http.Request) (*registry.Function, string, error) {
	name, q, err := lambda.ParseFunctionRef(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return nil, "", err
	}
	fn, ok := a.reg.Get(name)
	if !ok {
		return nil, "", lambda.NotFound("Function not found: %s", lambda.FunctionARN(name))
	}
	return fn, q, nil
}

func versionOf(fn *registry.Function, q string) (*lambda.Config, error) {
	cfg, ok := fn.Resolve(q, 0)
	if !ok {
		return nil, lambda.NotFound("Function not found: %s", lambda.QualifiedARN(fn.Latest.FunctionName, q))
	}
	return cfg, nil
}

func (a *API) getFunctionConfiguration(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	cfg, err := versionOf(fn, q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cfg, nil
}

type functionCode struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location"`
}

func (a *API) getFunction(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	cfg, err := versionOf(fn, q)
	if err != nil {
		return 0, nil, err
	}
	sum, _ := base64.StdEncoding.DecodeString(cfg.CodeSha256)
	var conc *reservedBody
	if fn.Reserved != nil {
		conc = &reservedBody{fn.Reserved}
	}
	return http.StatusOK, struct {
		Configuration *lambda.Config    `json:"Configuration"`
		Code          functionCode      `json:"Code"`
		Concurrency   *reservedBody     `json:"Concurrency,omitempty"`
		Tags          map[string]string `json:"Tags,omitempty"`
	}{cfg, functionCode{RepositoryType: "S3", Location: "http://" + r.Host + "/nimbus/v1/code/" + hex.EncodeToString(sum)}, conc, nil}, nil
}

// codeBlob serves a stored deployment package (GetFunction's Code.Location).
func (a *API) codeBlob(w http.ResponseWriter, r *http.Request) {
	raw, err := hex.DecodeString(r.PathValue("sha"))
	if err != nil || len(raw) != 32 {
		awsapi.WriteError(w, a.log, lambda.NotFound("No such code"))
		return
	}
	zip, err := a.code.Zip(r.Context(), base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		awsapi.WriteError(w, a.log, lambda.NotFound("No such code"))
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Write(zip)
}

func (a *API) listFunctions(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	maxItems, err := maxItemsParam(r, 50, 10000)
	if err != nil {
		return 0, nil, err
	}
	all := q.Get("FunctionVersion") == "ALL"
	if fv := q.Get("FunctionVersion"); fv != "" && !all {
		return 0, nil, lambda.InvalidParameter("1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]", fv)
	}
	var items []*lambda.Config
	for _, fn := range a.reg.List() {
		items = append(items, &fn.Latest)
		if all {
			for i := range fn.Versions {
				items = append(items, &fn.Versions[i])
			}
		}
	}
	page, next, err := paginate(items, q.Get("Marker"), maxItems, func(c *lambda.Config) string { return c.FunctionName + ":" + c.Version })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Functions  []*lambda.Config `json:"Functions"`
		NextMarker string           `json:"NextMarker,omitempty"`
	}{page, next}, nil
}

func (a *API) listVersions(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	maxItems, err := maxItemsParam(r, 50, 10000)
	if err != nil {
		return 0, nil, err
	}
	items := []*lambda.Config{&fn.Latest}
	for i := range fn.Versions {
		items = append(items, &fn.Versions[i])
	}
	page, next, err := paginate(items, r.URL.Query().Get("Marker"), maxItems, func(c *lambda.Config) string { return c.Version })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Versions   []*lambda.Config `json:"Versions"`
		NextMarker string           `json:"NextMarker,omitempty"`
	}{page, next}, nil
}

// maxItemsParam reads MaxItems (1 to limit; def when absent).
func maxItemsParam(r *http.Request, def, limit int) (int, error) {
	s := r.URL.Query().Get("MaxItems")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > limit {
		return 0, lambda.InvalidParameter("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and %d", s, limit)
	}
	return n, nil
}

// paginate returns the page after marker (an opaque token naming the last item
// of the previous page) and the marker of the next page.
func paginate[T any](items []T, marker string, maxItems int, key func(T) string) ([]T, string, error) {
	start := 0
	if marker != "" {
		last, err := base64.RawURLEncoding.DecodeString(marker)
		if err != nil {
			return nil, "", lambda.InvalidParameter("Invalid Marker: %s", marker)
		}
		start = len(items)
		for i, it := range items {
			if key(it) > string(last) {
				start = i
				break
			}
		}
	}
	end := min(start+maxItems, len(items))
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	next := ""
	if end < len(items) && end > start {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return page, next, nil
}

func (a *API) accountSettings(r *http.Request) (int, any, error) {
	var total int64
	fns := a.reg.List()
	for _, fn := range fns {
		total += fn.Latest.CodeSize
		for _, v := range fn.Versions {
			total += v.CodeSize
		}
	}
	type limit struct {
		TotalCodeSize                  int64 `json:"TotalCodeSize"`
		CodeSizeUnzipped               int64 `json:"CodeSizeUnzipped"`
		CodeSizeZipped                 int64 `json:"CodeSizeZipped"`
		ConcurrentExecutions           int   `json:"ConcurrentExecutions"`
		UnreservedConcurrentExecutions int   `json:"UnreservedConcurrentExecutions"`
	}
	type usage struct {
		TotalCodeSize int64 `json:"TotalCodeSize"`
		FunctionCount int   `json:"FunctionCount"`
	}
	return http.StatusOK, struct {
		AccountLimit limit `json:"AccountLimit"`
		AccountUsage usage `json:"AccountUsage"`
	}{
		limit{80530636800, 262144000, 52428800, a.limiter.Limit(), a.limiter.Limit() - a.reservedElsewhere("")},
		usage{total, len(fns)},
	}, nil
}
