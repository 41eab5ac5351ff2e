package lambdaapi

import (
	"maps"
	"net/http"
	"slices"

	"github.com/nimbus-dev/nimbus/internal/concurrency"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

type reservedBody struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

// reservedElsewhere sums the reservations of every function but name.
func (a *API) reservedElsewhere(name string) int {
	total := 0
	for _, fn := range a.reg.List() {
		if fn.Latest.FunctionName != name && fn.Reserved != nil {
			total += *fn.Reserved
		}
	}
	return total
}

func (a *API) putFunctionConcurrency(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	var in reservedBody
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	if in.ReservedConcurrentExecutions == nil || *in.ReservedConcurrentExecutions < 0 {
		return 0, nil, lambda.InvalidParameter("1 validation error detected: Value at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0")
	}
	n := *in.ReservedConcurrentExecutions
	name := fn.Latest.FunctionName
	a.reserving.Lock()
	defer a.reserving.Unlock()
	limit := a.limiter.Limit()
	if limit-a.reservedElsewhere(name)-n < a.limits.UnreservedMin {
		return 0, nil, lambda.InvalidParameter("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", a.limits.UnreservedMin)
	}
	_, err = a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		prov := 0
		for _, p := range f.Provisioned {
			prov += p.Requested
		}
		if prov > n {
			return lambda.InvalidParameter("Requested ReservedConcurrentExecutions (%d) must be at least the function's total provisioned concurrency (%d).", n, prov)
		}
		f.Reserved = &n
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.limiter.SetReserved(name, n)
	a.invoke.Reconcile()
	return http.StatusOK, reservedBody{&n}, nil
}

func (a *API) getFunctionConcurrency(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, reservedBody{fn.Reserved}, nil
}

func (a *API) deleteFunctionConcurrency(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	name := fn.Latest.FunctionName
	if _, err := a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		f.Reserved = nil
		return nil
	}); err != nil {
		return 0, nil, err
	}
	a.limiter.SetReserved(name, concurrency.NoReservation)
	a.invoke.Reconcile()
	return http.StatusNoContent, nil, nil
}

type provisionedConfig struct {
	FunctionArn                              string `json:"FunctionArn,omitempty"`
	RequestedProvisionedConcurrentExecutions int    `json:"RequestedProvisionedConcurrentExecutions"`
	AvailableProvisionedConcurrentExecutions int    `json:"AvailableProvisionedConcurrentExecutions"`
	AllocatedProvisionedConcurrentExecutions int    `json:"AllocatedProvisionedConcurrentExecutions"`
	Status                                   string `json:"Status"`
	StatusReason                             string `json:"StatusReason,omitempty"`
	LastModified                             string `json:"LastModified"`
}

func (a *API) provisionedView(name, q string, p lambda.Provisioned) provisionedConfig {
	st := a.invoke.Provisioned(name, q, p.Requested)
	return provisionedConfig{
		FunctionArn:                              lambda.QualifiedARN(name, q),
		RequestedProvisionedConcurrentExecutions: p.Requested,
		AvailableProvisionedConcurrentExecutions: st.Allocated,
		AllocatedProvisionedConcurrentExecutions: st.Allocated,
		Status:                                   st.Status,
		StatusReason:                             st.StatusReason,
		LastModified:                             p.LastModified,
	}
}

// provisionedQualifier checks the Qualifier of a provisioned-concurrency request.
func provisionedQualifier(fn *registry.Function, q string) error {
	if q == "" {
		return lambda.InvalidParameter("Qualifier is required: provisioned concurrency applies to a version or an alias")
	}
	if q == lambda.Latest {
		return lambda.InvalidParameter("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	}
	if _, ok := fn.ProvisionedVersion(q); !ok {
		return lambda.NotFound("Function not found: %s", lambda.QualifiedARN(fn.Latest.FunctionName, q))
	}
	return nil
}

func (a *API) putProvisioned(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	if err := provisionedQualifier(fn, q); err != nil {
		return 0, nil, err
	}
	var in struct {
		ProvisionedConcurrentExecutions *int `json:"ProvisionedConcurrentExecutions"`
	}
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	if in.ProvisionedConcurrentExecutions == nil || *in.ProvisionedConcurrentExecutions < 1 {
		return 0, nil, lambda.InvalidParameter("1 validation error detected: Value at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1")
	}
	n := *in.ProvisionedConcurrentExecutions
	name := fn.Latest.FunctionName
	a.reserving.Lock()
	defer a.reserving.Unlock()
	var stored lambda.Provisioned
	_, err = a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		total := n
		for other, p := range f.Provisioned {
			if other != q {
				total += p.Requested
			}
		}
		if f.Reserved != nil && total > *f.Reserved {
			return lambda.InvalidParameter("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
		}
		if f.Reserved == nil && total > a.limiter.Limit()-a.reservedElsewhere(name)-a.limits.UnreservedMin {
			return lambda.InvalidParameter("Requested Provisioned Concurrency exceeds the account's unreserved concurrency minus its minimum of [%d].", a.limits.UnreservedMin)
		}
		if f.Provisioned == nil {
			f.Provisioned = map[string]lambda.Provisioned{}
		}
		stored = lambda.Provisioned{Requested: n, LastModified: now()}
		f.Provisioned[q] = stored
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.invoke.Reconcile()
	v := a.provisionedView(name, q, stored)
	v.FunctionArn = ""
	return http.StatusAccepted, v, nil
}

// errNoProvisioned is the error of a qualifier without provisioned concurrency.
func errNoProvisioned() error {
	return &lambda.Error{Code: "ProvisionedConcurrencyConfigNotFoundException", Status: http.StatusNotFound,
		Message: "No Provisioned Concurrency Config found for this function"}
}

func (a *API) getProvisioned(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	if r.URL.Query().Get("List") == "ALL" {
		return a.listProvisioned(fn, r)
	}
	if err := provisionedQualifier(fn, q); err != nil {
		return 0, nil, err
	}
	p, ok := fn.Provisioned[q]
	if !ok {
		return 0, nil, errNoProvisioned()
	}
	v := a.provisionedView(fn.Latest.FunctionName, q, p)
	v.FunctionArn = ""
	return http.StatusOK, v, nil
}

func (a *API) listProvisioned(fn *registry.Function, r *http.Request) (int, any, error) {
	qs := slices.Sorted(maps.Keys(fn.Provisioned))
	items := make([]provisionedConfig, 0, len(qs))
	for _, q := range qs {
		items = append(items, a.provisionedView(fn.Latest.FunctionName, q, fn.Provisioned[q]))
	}
	page, next, err := paginate(items, r.URL.Query().Get("Marker"), 50, func(p provisionedConfig) string { return p.FunctionArn })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		ProvisionedConcurrencyConfigs []provisionedConfig `json:"ProvisionedConcurrencyConfigs"`
		NextMarker                    string              `json:"NextMarker,omitempty"`
	}{page, next}, nil
}

func (a *API) deleteProvisioned(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	if err := provisionedQualifier(fn, q); err != nil {
		return 0, nil, err
	}
	if _, ok := fn.Provisioned[q]; !ok {
		return 0, nil, errNoProvisioned()
	}
	if _, err := a.reg.Update(r.Context(), fn.Latest.FunctionName, func(f *registry.Function) error {
		delete(f.Provisioned, q)
		return nil
	}); err != nil {
		return 0, nil, err
	}
	a.invoke.Reconcile()
	return http.StatusNoContent, nil, nil
}
