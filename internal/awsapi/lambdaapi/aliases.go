package lambdaapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

type aliasInput struct {
	Name            string               `json:"Name"`
	FunctionVersion *string              `json:"FunctionVersion"`
	Description     *string              `json:"Description"`
	RoutingConfig   *lambda.AliasRouting `json:"RoutingConfig"`
	RevisionId      string               `json:"RevisionId"`
}

// checkAlias validates an alias's targets against the function.
func checkAlias(f *registry.Function, a *lambda.Alias) error {
	if _, ok := f.Version(a.FunctionVersion); !ok {
		return lambda.NotFound("Function not found: %s", lambda.QualifiedARN(f.Latest.FunctionName, a.FunctionVersion))
	}
	if a.RoutingConfig == nil || len(a.RoutingConfig.AdditionalVersionWeights) == 0 {
		a.RoutingConfig = nil
		return nil
	}
	w := a.RoutingConfig.AdditionalVersionWeights
	if len(w) > 1 {
		return lambda.InvalidParameter("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	if a.FunctionVersion == lambda.Latest {
		return lambda.InvalidParameter("$LATEST is not supported for an alias pointing to more than 1 version")
	}
	for v, weight := range w {
		if weight < 0 || weight > 1 {
			return lambda.InvalidParameter("Invalid weight %g for version %s: weights must be between 0.0 and 1.0", weight, v)
		}
		if v == a.FunctionVersion {
			return lambda.InvalidParameter("Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
		if _, ok := f.Version(v); !ok || v == lambda.Latest {
			return lambda.InvalidParameter("Function version %s in AdditionalVersionWeights does not exist or is $LATEST", v)
		}
	}
	return nil
}

func (a *API) createAlias(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	var in aliasInput
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	if !lambda.ValidAliasName(in.Name) {
		return 0, nil, lambda.Validation("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", in.Name)
	}
	if in.FunctionVersion == nil {
		return 0, nil, lambda.Validation("1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null")
	}
	name := fn.Latest.FunctionName
	alias := lambda.Alias{AliasArn: lambda.QualifiedARN(name, in.Name), Name: in.Name, FunctionVersion: *in.FunctionVersion,
		RoutingConfig: in.RoutingConfig, RevisionId: lambda.NewRequestID()}
	if in.Description != nil {
		alias.Description = *in.Description
	}
	_, err = a.reg.Update(r.Context(), name, func(f *registry.Function) error {
		if _, exists := f.Aliases[in.Name]; exists {
			return lambda.Conflict("Alias already exists: %s", alias.AliasArn)
		}
		if err := checkAlias(f, &alias); err != nil {
			return err
		}
		if f.Aliases == nil {
			f.Aliases = map[string]lambda.Alias{}
		}
		f.Aliases[in.Name] = alias
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, alias, nil
}

func (a *API) getAlias(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	al, ok := fn.Aliases[r.PathValue("alias")]
	if !ok {
		return 0, nil, lambda.NotFound("Cannot find alias arn: %s", lambda.QualifiedARN(fn.Latest.FunctionName, r.PathValue("alias")))
	}
	return http.StatusOK, al, nil
}

func (a *API) updateAlias(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	var in aliasInput
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	aliasName := r.PathValue("alias")
	var out lambda.Alias
	_, err = a.reg.Update(r.Context(), fn.Latest.FunctionName, func(f *registry.Function) error {
		al, ok := f.Aliases[aliasName]
		if !ok {
			return lambda.NotFound("Cannot find alias arn: %s", lambda.QualifiedARN(f.Latest.FunctionName, aliasName))
		}
		if in.RevisionId != "" && in.RevisionId != al.RevisionId {
			return lambda.PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
		}
		if in.FunctionVersion != nil {
			al.FunctionVersion = *in.FunctionVersion
		}
		if in.Description != nil {
			al.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			al.RoutingConfig = in.RoutingConfig
		}
		if err := checkAlias(f, &al); err != nil {
			return err
		}
		al.RevisionId = lambda.NewRequestID()
		f.Aliases[aliasName] = al
		out = al
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.invoke.Reconcile() // provisioned concurrency follows the alias
	return http.StatusOK, out, nil
}

func (a *API) deleteAlias(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	aliasName := r.PathValue("alias")
	_, err = a.reg.Update(r.Context(), fn.Latest.FunctionName, func(f *registry.Function) error {
		delete(f.Aliases, aliasName)
		delete(f.Provisioned, aliasName)
		delete(f.URLs, aliasName) // an alias's function URL goes with it
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.invoke.Reconcile()
	return http.StatusNoContent, nil, nil
}

func (a *API) listAliases(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	version := r.URL.Query().Get("FunctionVersion")
	items := make([]lambda.Alias, 0, len(fn.Aliases))
	for _, al := range fn.Aliases {
		if version == "" || al.FunctionVersion == version {
			items = append(items, al)
		}
	}
	slices.SortFunc(items, func(x, y lambda.Alias) int { return strings.Compare(x.Name, y.Name) })
	maxItems := 50
	if s := r.URL.Query().Get("MaxItems"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 10000 {
			maxItems = n
		}
	}
	page, next, err := paginate(items, r.URL.Query().Get("Marker"), maxItems, func(al lambda.Alias) string { return al.Name })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Aliases    []lambda.Alias `json:"Aliases"`
		NextMarker string         `json:"NextMarker,omitempty"`
	}{page, next}, nil
}
