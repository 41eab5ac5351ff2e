package deploy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/nimbus-dev/nimbus/internal/template"
)

// service is an AWS service a resource kind needs beyond Lambda, SQS and the
// gateway, which every nimbus server provides.
type service string

const (
	serviceSNS    service = "SNS"
	serviceEvents service = "EventBridge"
	serviceSFN    service = "Step Functions"
)

// needs returns the optional service a resource needs, or "".
func needs(r *template.Resource) service {
	switch {
	case r.Topic != nil, r.Subscription != nil:
		return serviceSNS
	case r.Schedule != nil:
		return serviceEvents
	case r.StateMachine != nil:
		return serviceSFN
	}
	return ""
}

// probe asks the server whether it provides a service: (false, nil) when it
// answers "unknown operation", an error when it cannot be asked.
func (d *Deployer) probe(ctx context.Context, s service) (bool, error) {
	var err error
	switch s {
	case serviceSNS:
		_, err = d.sns.ListTopics(ctx, &sns.ListTopicsInput{})
	case serviceEvents:
		_, err = d.events.ListRules(ctx, &eventbridge.ListRulesInput{Limit: aws.Int32(1)})
	case serviceSFN:
		_, err = d.sfn.ListStateMachines(ctx, &sfn.ListStateMachinesInput{MaxResults: 1})
	}
	switch {
	case err == nil:
		return true, nil
	case isUnknownOperation(err):
		return false, nil
	}
	return false, fmt.Errorf("asking the server whether it provides %s: %w", s, describe(err))
}

// atRE matches one-time schedules, which EventBridge rules cannot express.
var atRE = regexp.MustCompile(`^at\(`)

// supported returns the plan to apply: plan without the resources the
// server cannot provide, each added to Unsupported (after the plan's own)
// with a warning. Resources that only connect others (mappings, schedules,
// subscriptions, APIs) are left out with what they connect; others that
// merely refer to a left-out resource (a function whose dead-letter topic is
// not deployed) are deployed with a warning.
func (d *Deployer) supported(ctx context.Context, plan *template.Plan) (*template.Plan, []string, error) {
	have := map[service]bool{}
	for i := range plan.Resources {
		s := needs(&plan.Resources[i])
		if _, asked := have[s]; s == "" || asked {
			continue
		}
		ok, err := d.probe(ctx, s)
		if err != nil {
			return nil, nil, err
		}
		have[s] = ok
	}
	return filter(plan, have)
}

// filter is supported's decision, given which services the server provides.
func filter(plan *template.Plan, have map[service]bool) (*template.Plan, []string, error) {
	out := *plan
	out.Resources = make([]template.Resource, 0, len(plan.Resources))
	out.Unsupported = slices.Clone(plan.Unsupported)
	out.Warnings = slices.Clone(plan.Warnings)
	var warnings []string
	skipped := map[string]string{} // logical id → why
	skip := func(r *template.Resource, why string) {
		skipped[r.LogicalID] = why
		out.Unsupported = append(out.Unsupported, template.Unsupported{LogicalID: r.LogicalID, Type: r.Type, Reason: why})
		warnings = append(warnings, fmt.Sprintf("Resources.%s: %s %s; not deployed", r.LogicalID, r.Type, why))
	}
	for i := range plan.Resources {
		r := &plan.Resources[i]
		if s := needs(r); s != "" && !have[s] {
			skip(r, fmt.Sprintf("needs %s, which this server does not support yet", s))
			continue
		}
		if s := r.Schedule; s != nil && r.Type == template.TypeSchedule && (s.Timezone != "" || atRE.MatchString(s.Expression)) {
			skip(r, "uses a time zone or a one-time at() schedule, which needs EventBridge Scheduler; this server does not support it yet")
			continue
		}
		var missing []string
		for _, dep := range r.DependsOn {
			if _, gone := skipped[dep]; gone {
				missing = append(missing, dep)
			}
		}
		if len(missing) > 0 {
			if connector(r) {
				skip(r, "connects "+strings.Join(missing, ", ")+", which is not deployed")
				continue
			}
			warnings = append(warnings, fmt.Sprintf("Resources.%s refers to %s, which is not deployed (not supported by this server yet)", r.LogicalID, strings.Join(missing, ", ")))
		}
		out.Resources = append(out.Resources, *r)
	}
	// Keep only dependencies on what is deployed.
	for i := range out.Resources {
		r := &out.Resources[i]
		r.DependsOn = slices.DeleteFunc(slices.Clone(r.DependsOn), func(dep string) bool { _, gone := skipped[dep]; return gone })
		if len(r.DependsOn) == 0 {
			r.DependsOn = nil
		}
	}
	out.Warnings = append(out.Warnings, warnings...)
	return &out, warnings, nil
}

// connector reports whether a resource only connects others (and so is
// pointless without them).
func connector(r *template.Resource) bool {
	return r.EventSourceMapping != nil || r.Schedule != nil || r.Subscription != nil || r.API != nil
}
