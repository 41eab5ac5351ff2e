package deploy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/nimbus-dev/nimbus/internal/shift"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Shift is a traffic shift a deploy started on the server.
type Shift struct {
	Function, Alias string
	ID              string
	From, To        string
	Type            string       // Canary10Percent5Minutes, …
	Status          shift.Status // where it was when the deploy returned
}

func deploymentPath(function, alias string) string {
	return "/nimbus/v1/deployments/" + url.PathEscape(function) + "/" + url.PathEscape(alias)
}

// startShift asks the server to move f's alias from version from to
// version to as f's DeploymentPreference says (the server's shifter does
// it step by step, runs the hooks and rolls back on errors). Starting the
// deployment that is already running is a no-op; another one supersedes it.
func (d *Deployer) startShift(ctx context.Context, f *template.Function, from, to string) (*Shift, error) {
	p := f.Alias.DeploymentPreference
	spec := shift.Spec{From: from, To: to, Type: p.Type, Kind: p.Kind, Percent: p.Percent, IntervalMinutes: p.IntervalMinutes,
		PreTraffic: p.PreTraffic, PostTraffic: p.PostTraffic}
	var out shift.Deployment
	if _, err := d.call(ctx, http.MethodPut, deploymentPath(f.Name, f.Alias.Name), spec, &out, nil); err != nil {
		return nil, fmt.Errorf("starting the traffic shift of %s:%s to version %s: %w", f.Name, f.Alias.Name, to, err)
	}
	return &Shift{Function: f.Name, Alias: f.Alias.Name, ID: out.ID, From: out.From, To: to, Type: p.Type, Status: out.Status}, nil
}

// Deployments lists every alias's last traffic shift.
func (d *Deployer) Deployments(ctx context.Context) ([]*shift.Deployment, error) {
	var out struct {
		Deployments []*shift.Deployment `json:"deployments"`
	}
	if _, err := d.call(ctx, http.MethodGet, "/nimbus/v1/deployments", nil, &out, nil); err != nil {
		return nil, err
	}
	return out.Deployments, nil
}

// Deployment returns an alias's last traffic shift.
func (d *Deployer) Deployment(ctx context.Context, function, alias string) (*shift.Deployment, error) {
	var out shift.Deployment
	if _, err := d.call(ctx, http.MethodGet, deploymentPath(function, alias), nil, &out, nil); err != nil {
		return nil, err
	}
	return &out, nil
}
