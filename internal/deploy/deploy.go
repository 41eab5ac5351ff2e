// Package deploy applies a template plan (package template) to a running
// nimbus server, as a client of its APIs: the Lambda REST API, the SQS, SNS,
// EventBridge and Step Functions JSON APIs through aws-sdk-go-v2, and
// nimbus's own gateway (/nimbus/v1/apis) and stack store (/nimbus/v1/stacks)
// endpoints. It is what `nimbus deploy` and `nimbus delete` run.
//
// # What a deploy does
//
// Deployer.Deploy builds every function's package (package build; Go is
// compiled, the rest zipped) and records its CodeSha256 in the plan, reads
// the stack's last applied plan from the stack store, and applies
// template.Diff(previous, plan): creates and updates in the plan's
// (dependency) order, then deletes, dependents first. It stores the plan it
// applied and returns a Result with the gateway URLs, function URLs
// (urls.go), REST API keys (apikeys.go: their values are made by the deploy
// and kept in the stack record) and ARNs.
//
// Every apply step is an upsert against what the server holds, not against
// the previous plan: a function that exists is updated (code only when its
// CodeSha256 differs, configuration only when it differs), one that does not
// is created. So a deploy converges whatever happened before — a failed
// deploy, a lost stack record, a resource deleted by hand — and deploying the
// same plan twice changes nothing. A resource the diff reports unchanged is
// checked for existence only, and recreated if it is gone.
//
// A deploy succeeds only when everything it deployed is live: functions
// Active (and their alias's provisioned concurrency READY), routes stored and
// served. The first failing step stops the deploy with an error naming the
// resource. The stack record then describes what is deployed: resources
// applied by this deploy with their new definition, the rest with their old
// one, so that the next deploy (or nimbus delete) picks up from there.
//
// # What the server does not support
//
// Topics and subscriptions (SNS), schedules (EventBridge rules) and state
// machines (Step Functions) need services a server may not provide yet. A
// deploy asks the server once per service before changing anything; the
// resources of a service that answers "unknown operation" are left out of
// the deploy (and out of the stored plan), listed in Result.Unsupported and
// in a warning, so that a later deploy against a server that has the service
// creates them. Nothing is dropped silently.
//
// # Concurrency
//
// A Deployer is safe for concurrent use; it holds only clients. Two deploys
// of one stack at once are detected when the second stores its plan (the
// stack store's conditional write) and that deploy fails, asking to deploy
// again.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Config configures a Deployer. Zero values are the documented defaults.
type Config struct {
	// Endpoint is the server's API URL (--endpoint-url); required.
	Endpoint string
	// AccessKeyID and SecretAccessKey sign requests; empty means "nimbus"
	// (any key is accepted on loopback).
	AccessKeyID, SecretAccessKey string
	// HTTPClient is used for every request; nil means a new http.Client.
	HTTPClient *http.Client
	// WaitTimeout bounds each wait for a function to become Active or
	// Updated, and for provisioned concurrency to become READY; zero means
	// two minutes.
	WaitTimeout time.Duration
}

// Deployer deploys and deletes stacks on one server.
type Deployer struct {
	cfg    Config
	lambda *awslambda.Client
	sqs    *sqs.Client
	sns    *sns.Client
	events *eventbridge.Client
	sfn    *sfn.Client
	http   *http.Client
}

// New returns a Deployer for the server at cfg.Endpoint.
func New(cfg Config) *Deployer {
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = "nimbus", "nimbus"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 2 * time.Minute
	}
	creds := credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	// One attempt: a retried create or publish is not always idempotent,
	// and a deploy that fails says so and is run again.
	retryer := func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 1) }
	ep := aws.String(cfg.Endpoint)
	return &Deployer{
		cfg:    cfg,
		http:   cfg.HTTPClient,
		lambda: awslambda.New(awslambda.Options{Region: lambda.Region, BaseEndpoint: ep, Credentials: creds, Retryer: retryer(), HTTPClient: cfg.HTTPClient}),
		sqs:    sqs.New(sqs.Options{Region: lambda.Region, BaseEndpoint: ep, Credentials: creds, Retryer: retryer(), HTTPClient: cfg.HTTPClient}),
		sns:    sns.New(sns.Options{Region: lambda.Region, BaseEndpoint: ep, Credentials: creds, Retryer: retryer(), HTTPClient: cfg.HTTPClient}),
		events: eventbridge.New(eventbridge.Options{Region: lambda.Region, BaseEndpoint: ep, Credentials: creds, Retryer: retryer(), HTTPClient: cfg.HTTPClient}),
		sfn:    sfn.New(sfn.Options{Region: lambda.Region, BaseEndpoint: ep, Credentials: creds, Retryer: retryer(), HTTPClient: cfg.HTTPClient}),
	}
}

// Action is what happens to a resource.
type Action string

// Actions reported in Events.
const (
	ActionBuild     Action = "build"     // a function's package was built
	ActionCreate    Action = "create"    // created (or recreated: it was missing)
	ActionUpdate    Action = "update"    // changed in place
	ActionReplace   Action = "replace"   // created anew under a new identity; the old one is deleted later
	ActionDelete    Action = "delete"    // deleted
	ActionUnchanged Action = "unchanged" // left alone
	ActionRetain    Action = "retain"    // left in place but no longer managed (DeletionPolicy: Retain)
	ActionSkip      Action = "skip"      // not deployed: the server does not support it
)

// Event reports progress: one per resource and step, after it happened.
type Event struct {
	Action    Action
	Kind      string // Function, Queue, Topic, StateMachine, Api, EventSourceMapping, Schedule, Subscription
	LogicalID string
	// PhysicalID is the resource's name (see template.Resource.PhysicalID).
	PhysicalID string
	// Detail says more: what was built, why something was skipped.
	Detail string
	// Elapsed is how long the step took.
	Elapsed time.Duration
}

// Options are a deploy's options.
type Options struct {
	// Progress receives events as they happen, on the deploying
	// goroutine (builds are reported once all are done); nil means none.
	Progress func(Event)
	// Packages are prebuilt deployment packages by function name; a
	// function without one is built.
	Packages map[string][]byte
}

// Result is what a deploy did.
type Result struct {
	Stack string
	// Plan is the plan applied and stored: the given plan without the
	// resources the server does not support, CodeSha256 filled in.
	Plan *template.Plan
	// Created … Unchanged count resources.
	Created, Updated, Deleted, Unchanged int
	// Gateway is the gateway's base URL ("" if the server did not say).
	Gateway string
	// Endpoints are the deployed routes with their URLs.
	Endpoints []Endpoint
	// FunctionURLs are the deployed function URLs (urls.go).
	FunctionURLs []FunctionURL
	// APIKeys are the REST API keys with their values (apikeys.go).
	APIKeys []APIKey
	// Unsupported are the resources not deployed, with why.
	Unsupported []template.Unsupported
	// Warnings are the deploy's own (the plan's are in Plan.Warnings):
	// resources not deployed, features not honoured.
	Warnings []string
	// Shifts are the traffic shifts started on the server (aliases with a
	// DeploymentPreference); they go on after the deploy returns.
	Shifts  []Shift
	Elapsed time.Duration
}

// Deploy applies plan to the server and stores it as the stack's plan. plan
// must come from template.Plan; Deploy fills in every function's CodeSHA256.
func (d *Deployer) Deploy(ctx context.Context, plan *template.Plan, opts Options) (*Result, error) {
	start := time.Now()
	emit := func(e Event) {
		if opts.Progress != nil {
			opts.Progress(e)
		}
	}
	info, err := d.info(ctx)
	if err != nil {
		return nil, err
	}
	prev, etag, err := d.stack(ctx, plan.Stack)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	applied, warnings, err := d.supported(ctx, plan)
	if err != nil {
		return nil, err
	}
	for _, u := range applied.Unsupported[len(plan.Unsupported):] {
		ev := Event{Action: ActionSkip, Kind: u.Type, LogicalID: u.LogicalID, Detail: u.Reason}
		if r := plan.Resource(u.LogicalID); r != nil {
			ev.Kind, ev.PhysicalID = kindOf(r), r.PhysicalID()
		}
		emit(ev)
	}
	packages, err := buildAll(ctx, applied, opts.Packages, emit)
	if err != nil {
		return nil, err
	}
	var prevPlan *template.Plan
	if prev != nil {
		prevPlan = prev.Plan
	}
	fillAPIKeys(prevPlan, applied)
	a := &applier{d: d, emit: emit, packages: packages, prev: prevPlan, next: applied, done: map[string]bool{}}
	changes := template.Diff(prevPlan, applied)
	res := &Result{Stack: plan.Stack, Plan: applied, Unsupported: applied.Unsupported, Warnings: warnings}
	if err := a.run(ctx, changes, res); err != nil {
		// Record what is deployed now, so that the next deploy and nimbus
		// delete know about what this one created. Best effort: the
		// failure is what the user needs to see.
		if partial := a.partial(); partial != nil {
			rctx, cancel := recordCtx(ctx)
			defer cancel()
			if _, serr := d.putStack(rctx, partial, etag); serr != nil {
				err = fmt.Errorf("%w (and the stack record could not be updated: %v)", err, serr)
			}
		}
		return nil, err
	}
	if _, err := d.putStack(ctx, applied, etag); err != nil {
		return nil, err
	}
	res.Gateway = info.gatewayURL(d.cfg.Endpoint)
	res.Endpoints = endpoints(applied, res.Gateway)
	res.FunctionURLs = functionURLs(applied, res.Gateway)
	res.APIKeys = apiKeys(applied)
	res.Shifts = a.shifts
	res.Elapsed = time.Since(start)
	return res, nil
}

// Delete deletes everything a stack deployed, dependents first, then its
// record. Resources already gone are skipped; retained ones are left.
func (d *Deployer) Delete(ctx context.Context, stack string, progress func(Event)) error {
	emit := func(e Event) {
		if progress != nil {
			progress(e)
		}
	}
	rec, etag, err := d.stack(ctx, stack)
	if isNotFound(err) {
		return fmt.Errorf("stack %s not found (nimbus stacks list shows the deployed stacks)", stack)
	}
	if err != nil {
		return err
	}
	a := &applier{d: d, emit: emit, prev: rec.Plan, done: map[string]bool{}}
	res := rec.Plan.Resources
	for i := len(res) - 1; i >= 0; i-- {
		r := &res[i]
		if r.Retain {
			emit(Event{Action: ActionRetain, Kind: kindOf(r), LogicalID: r.LogicalID, PhysicalID: r.PhysicalID()})
			continue
		}
		if err := a.remove(ctx, r); err != nil {
			// Keep the record of what is left, so that delete can be run again.
			rest := *rec.Plan
			rest.Resources = slices.Clone(res[:i+1])
			rctx, cancel := recordCtx(ctx)
			defer cancel()
			if _, serr := d.putStack(rctx, &rest, etag); serr != nil {
				err = fmt.Errorf("%w (and the stack record could not be updated: %v)", err, serr)
			}
			return err
		}
	}
	return d.deleteStack(ctx, stack, etag)
}

// Stacks lists the deployed stacks.
func (d *Deployer) Stacks(ctx context.Context) ([]StackSummary, error) { return d.listStacks(ctx) }

// Stack returns a stack's stored plan and when it was deployed.
func (d *Deployer) Stack(ctx context.Context, name string) (*Stack, error) {
	s, _, err := d.stack(ctx, name)
	if isNotFound(err) {
		return nil, fmt.Errorf("stack %s not found", name)
	}
	return s, err
}

// recordCtx is for storing the stack record after a failure, which may be
// the interruption itself: it outlives ctx, briefly.
func recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// Error is a failed step of a deploy or delete.
type Error struct {
	Action    Action
	Kind      string
	LogicalID string
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s %s: %v", e.Action, e.Kind, e.LogicalID, describe(e.Err))
}

func (e *Error) Unwrap() error { return e.Err }

var errUnsupported = errors.New("not supported by this server yet")
