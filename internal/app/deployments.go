package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/shift"
)

// startDeployments builds the traffic shifter (gradual deployments of
// aliases; durable in KV "nimbus_deployments") and serves it:
//
//	GET /nimbus/v1/deployments                    {"deployments": [Deployment…]}
//	GET /nimbus/v1/deployments/{function}/{alias} Deployment (404 if the alias never had one)
//	PUT /nimbus/v1/deployments/{function}/{alias} body shift.Spec → 201 Deployment (200: that deployment was already running)
//
// The caller runs the returned Shifter.
func startDeployments(ctx context.Context, mux *http.ServeMux, log *slog.Logger, bb *backbone.Backbone, reg *registry.Registry, inv *invoke.Service) (*shift.Shifter, error) {
	kv, err := bb.KeyValue(ctx, shift.Bucket)
	if err != nil {
		return nil, err
	}
	s := shift.New(shift.Config{}, log.With("component", "deployments"), shift.KV{KV: kv}, aliasMover{reg, inv}, hookRunner{inv}, inv)
	mux.HandleFunc("GET /nimbus/v1/deployments", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.List(r.Context())
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		awsapi.WriteJSON(w, http.StatusOK, map[string]any{"deployments": list})
	})
	mux.HandleFunc("GET /nimbus/v1/deployments/{function}/{alias}", func(w http.ResponseWriter, r *http.Request) {
		fn, alias := r.PathValue("function"), r.PathValue("alias")
		d, err := s.Get(r.Context(), fn, alias)
		if err == nil && d == nil {
			err = lambda.NotFound("No deployment of alias %s", lambda.QualifiedARN(fn, alias))
		}
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		awsapi.WriteJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("PUT /nimbus/v1/deployments/{function}/{alias}", func(w http.ResponseWriter, r *http.Request) {
		var spec shift.Spec
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			awsapi.WriteError(w, log, lambda.InvalidRequestContent("The request body could not be read"))
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			awsapi.WriteError(w, log, lambda.InvalidRequestContent("Could not parse the deployment: %v", err))
			return
		}
		spec.Function, spec.Alias = r.PathValue("function"), r.PathValue("alias")
		d, isNew, err := s.Start(r.Context(), spec)
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		status := http.StatusOK
		if isNew {
			status = http.StatusCreated
		}
		awsapi.WriteJSON(w, status, d)
	})
	return s, nil
}

// aliasMover is shift.Aliases over the registry.
type aliasMover struct {
	reg *registry.Registry
	inv *invoke.Service
}

func (m aliasMover) Alias(fn, alias string) (string, error) {
	f, ok := m.reg.Get(fn)
	if !ok {
		return "", lambda.NotFound("Function not found: %s", lambda.FunctionARN(fn))
	}
	a, ok := f.Aliases[alias]
	if !ok {
		return "", lambda.NotFound("Cannot find alias arn: %s", lambda.QualifiedARN(fn, alias))
	}
	return a.FunctionVersion, nil
}

func (m aliasMover) SetAlias(ctx context.Context, fn, alias, version string, weights map[string]float64) error {
	_, err := m.reg.Update(ctx, fn, func(f *registry.Function) error {
		a, ok := f.Aliases[alias]
		if !ok {
			return lambda.NotFound("Cannot find alias arn: %s", lambda.QualifiedARN(fn, alias))
		}
		for _, v := range append([]string{version}, slices.Collect(maps.Keys(weights))...) {
			if _, ok := f.Version(v); !ok {
				return lambda.NotFound("Function not found: %s", lambda.QualifiedARN(fn, v))
			}
		}
		a.FunctionVersion, a.RoutingConfig = version, nil
		if len(weights) > 0 {
			a.RoutingConfig = &lambda.AliasRouting{AdditionalVersionWeights: weights}
		}
		a.RevisionId = lambda.NewRequestID()
		f.Aliases[alias] = a
		return nil
	})
	if err == nil {
		m.inv.Reconcile() // provisioned concurrency follows the alias
	}
	return err
}

// hookRunner is shift.Hooks: a hook is a plain synchronous invoke.
type hookRunner struct{ inv *invoke.Service }

func (h hookRunner) RunHook(ctx context.Context, fn string, payload []byte) error {
	resp, err := h.inv.Invoke(ctx, invoke.Request{FunctionName: fn, Payload: payload})
	if err != nil {
		return err
	}
	if resp.FunctionError != "" {
		out := resp.Payload
		if len(out) > 256 {
			out = out[:256]
		}
		return fmt.Errorf("function error (%s): %s", resp.FunctionError, out)
	}
	return nil
}
