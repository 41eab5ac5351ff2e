package deploy

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Endpoint is one deployed route.
type Endpoint struct {
	APIID  string
	Method string // GET, ANY, …; "ANY" for $default
	// Path is the route's path ("/hello/{name}"); "/" for $default.
	Path string
	// URL is the gateway's address plus Path ("" when the gateway's
	// address is unknown): the gateway serves every API's routes at its
	// root (see package gateway).
	URL      string
	Function string // the integration's function (name or name:alias), or its service type
	Default  bool   // the API's $default route
}

// endpoints lists the plan's routes with their URLs on the gateway at base.
func endpoints(plan *template.Plan, base string) []Endpoint {
	var out []Endpoint
	for _, a := range plan.APIs() {
		for _, rt := range a.Routes {
			e := Endpoint{APIID: a.ID, Function: rt.Integration.Function}
			if e.Function == "" {
				e.Function = rt.Integration.Type // a service integration
			}
			if rt.Key == "$default" {
				e.Method, e.Path, e.Default = "ANY", "/", true
			} else {
				e.Method, e.Path, _ = strings.Cut(rt.Key, " ")
			}
			if base != "" {
				e.URL = base + e.Path
			}
			out = append(out, e)
		}
	}
	return out
}

// hostURL is an API's own address on the gateway, as API Gateway would
// name it: http://<id>.execute-api.localhost:<port>/[<stage>/].
func hostURL(base string, a *gateway.API) string {
	u, err := url.Parse(base)
	if err != nil || u.Port() == "" {
		return ""
	}
	s := "http://" + a.ID + ".execute-api.localhost:" + u.Port() + "/"
	if a.Stage != "" && a.Stage != gateway.DefaultStage {
		s += a.Stage + "/"
	}
	return s
}

// WriteSummary writes what a deploy did: the counts, the gateway URLs, the
// ARNs of what the stack holds, its outputs, and the deploy's warnings.
func (r *Result) WriteSummary(w io.Writer) {
	skipped := ""
	if n := len(r.Unsupported); n > 0 {
		skipped = fmt.Sprintf(", %d not deployed (see the warnings)", n)
	}
	fmt.Fprintf(w, "\nStack %s deployed in %s: %d created, %d updated, %d deleted, %d unchanged%s.\n",
		r.Stack, r.Elapsed.Round(time.Millisecond), r.Created, r.Updated, r.Deleted, r.Unchanged, skipped)
	if len(r.Endpoints) > 0 {
		if r.Gateway == "" {
			fmt.Fprintln(w, "\nEndpoints (the server did not say its gateway address):")
		} else {
			fmt.Fprintf(w, "\nEndpoints (gateway %s):\n", r.Gateway)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range r.Endpoints {
			where := e.URL
			if where == "" {
				where = e.Path
			}
			note := ""
			if e.Default {
				note = "  (default route: any path)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t-> %s%s\n", e.Method, where, e.Function, note)
		}
		tw.Flush()
		if r.Gateway != "" {
			for _, a := range r.Plan.APIs() {
				if u := hostURL(r.Gateway, &a); u != "" {
					fmt.Fprintf(w, "  API %s by host: %s\n", a.Name, u)
				}
			}
		}
	}
	if len(r.FunctionURLs) > 0 {
		fmt.Fprintln(w, "\nFunction URLs:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, u := range r.FunctionURLs {
			where := u.URL
			if u.PathURL != "" {
				where += "  (or " + u.PathURL + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", u.Function, u.Qualifier, u.AuthType, where)
		}
		tw.Flush()
	}
	if len(r.APIKeys) > 0 {
		fmt.Fprintln(w, "\nAPI keys (send one as the x-api-key header):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range r.APIKeys {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.API, k.Name, k.Value)
		}
		tw.Flush()
	}
	for _, sh := range r.Shifts {
		fmt.Fprintf(w, "\nTraffic shift %s started: %s:%s moves from version %s to %s (%s); the server shifts and rolls back on errors.\n  watch it: nimbus deployments get %s %s\n",
			sh.ID, sh.Function, sh.Alias, sh.From, sh.To, sh.Type, sh.Function, sh.Alias)
	}
	if len(r.Plan.Resources) > 0 {
		fmt.Fprintln(w, "\nResources:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i := range r.Plan.Resources {
			res := &r.Plan.Resources[i]
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", kindOf(res), res.LogicalID, describeResource(res))
		}
		tw.Flush()
	}
	if len(r.Plan.Outputs) > 0 {
		fmt.Fprintln(w, "\nOutputs:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, o := range r.Plan.Outputs {
			fmt.Fprintf(tw, "  %s\t%s\n", o.Name, o.Value)
		}
		tw.Flush()
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, s := range r.Warnings {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

// describeResource is a resource's ARN and what else identifies it.
func describeResource(r *template.Resource) string {
	switch {
	case r.Function != nil:
		if r.Function.Alias != nil {
			return r.Function.ARN + "  (alias " + r.Function.Alias.Name + ": " + r.Function.ARN + ":" + r.Function.Alias.Name + ")"
		}
		return r.Function.ARN
	case r.Queue != nil:
		return r.Queue.ARN + "  " + r.Queue.URL
	case r.Topic != nil:
		return r.Topic.ARN
	case r.StateMachine != nil:
		return r.StateMachine.ARN
	case r.API != nil:
		return "api " + r.API.ID
	case r.EventSourceMapping != nil:
		return r.EventSourceMapping.EventSourceARN + " -> " + r.EventSourceMapping.FunctionName
	case r.Schedule != nil:
		return r.Schedule.Name + " " + r.Schedule.Expression + " -> " + r.Schedule.Target
	case r.Subscription != nil:
		return r.Subscription.TopicARN + " -> " + r.Subscription.Endpoint
	}
	return r.PhysicalID()
}
