package template

import (
	"encoding/json"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

// Plan is a resolved template: what a stack consists of, in the order to
// create or update it. It is plain data; the deployer stores the plan it
// applied and diffs the next one against it.
type Plan struct {
	Stack       string `json:"stack"`
	Description string `json:"description,omitempty"`
	// Parameters are the values used, NoEcho ones shown as "****".
	Parameters map[string]string `json:"parameters,omitempty"`
	// Resources are what nimbus provides, in dependency order: every
	// resource comes after those it needs to exist (queues and topics before
	// the functions that use them, functions before the APIs, event source
	// mappings, schedules, subscriptions and state machines that call them).
	// Delete in the reverse order.
	Resources []Resource `json:"resources"`
	// Unsupported are the template's resources (and function events) that
	// nimbus does not provide; each is also named in Warnings.
	Unsupported []Unsupported `json:"unsupported,omitempty"`
	Outputs     []Output      `json:"outputs,omitempty"`
	// Warnings name everything accepted but not (fully) honoured.
	Warnings []string `json:"warnings,omitempty"`
	// Imports are the other stacks' exports this one uses (Fn::ImportValue).
	Imports []string `json:"imports,omitempty"`
}

// Resource is one resource of a plan. Exactly one of the kind fields is set.
type Resource struct {
	// LogicalID is the template's logical id, or the id SAM gives a
	// resource it generates (ServerlessHttpApi, <Function><Event>).
	LogicalID string `json:"logicalId"`
	// Type is the template's type (AWS::Serverless::Function), or for
	// generated resources the type SAM generates (AWS::Lambda::EventSourceMapping).
	Type string `json:"type"`
	// DependsOn are the logical ids this resource needs to exist first.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Retain (DeletionPolicy: Retain): when the resource leaves the
	// template it is kept, no longer managed (see Changes.Retain).
	Retain bool `json:"retain,omitempty"`

	Function           *Function           `json:"function,omitempty"`
	Queue              *Queue              `json:"queue,omitempty"`
	Topic              *Topic              `json:"topic,omitempty"`
	StateMachine       *StateMachine       `json:"stateMachine,omitempty"`
	API                *gateway.API        `json:"api,omitempty"`
	EventSourceMapping *EventSourceMapping `json:"eventSourceMapping,omitempty"`
	Schedule           *Schedule           `json:"schedule,omitempty"`
	Subscription       *Subscription       `json:"subscription,omitempty"`
}

// Resource types of generated resources.
const (
	TypeFunction           = "AWS::Serverless::Function"
	TypeHttpAPI            = "AWS::Serverless::HttpApi"
	TypeRestAPI            = "AWS::Serverless::Api"
	TypeStateMachine       = "AWS::Serverless::StateMachine"
	TypeQueue              = "AWS::SQS::Queue"
	TypeTopic              = "AWS::SNS::Topic"
	TypeEventSourceMapping = "AWS::Lambda::EventSourceMapping"
	TypeRule               = "AWS::Events::Rule"        // Schedule events
	TypeSchedule           = "AWS::Scheduler::Schedule" // ScheduleV2 events
	TypeSubscription       = "AWS::SNS::Subscription"
)

// PhysicalID is what identifies the resource where it is deployed: the
// function, queue, topic or state machine name, the API id, the schedule
// name, or for mappings and subscriptions their source and target. A change
// of PhysicalID is a replacement, not an update.
func (r *Resource) PhysicalID() string {
	switch {
	case r.Function != nil:
		return r.Function.Name
	case r.Queue != nil:
		return r.Queue.Name
	case r.Topic != nil:
		return r.Topic.Name
	case r.StateMachine != nil:
		return r.StateMachine.Name
	case r.API != nil:
		return r.API.ID
	case r.EventSourceMapping != nil:
		return r.EventSourceMapping.EventSourceARN + " " + r.EventSourceMapping.FunctionName
	case r.Schedule != nil:
		return r.Schedule.Name
	case r.Subscription != nil:
		return r.Subscription.TopicARN + " " + r.Subscription.Endpoint
	}
	return ""
}

// Function is a Lambda function (AWS::Serverless::Function).
type Function struct {
	Name    string `json:"name"`
	ARN     string `json:"arn"`
	Runtime string `json:"runtime"`
	Handler string `json:"handler,omitempty"`
	// Build says how to make its code; see package build.
	Build Build `json:"build"`
	// CodeSHA256 is the base64 SHA-256 of the built zip, as Lambda reports
	// CodeSha256. Plan leaves it empty; the deployer sets it after building so
	// that the stored plan records the code and Diff sees code changes.
	CodeSHA256       string            `json:"codeSha256,omitempty"`
	Description      string            `json:"description,omitempty"`
	MemorySize       int               `json:"memorySize"`
	Timeout          int               `json:"timeout"`
	EphemeralStorage int               `json:"ephemeralStorage"`
	Architectures    []string          `json:"architectures"`
	Environment      map[string]string `json:"environment,omitempty"`
	// ReservedConcurrency is ReservedConcurrentExecutions; nil means none.
	ReservedConcurrency *int `json:"reservedConcurrency,omitempty"`
	// Alias is AutoPublishAlias: publish a version on every change and
	// point this alias at it. Events invoke the alias.
	Alias *Alias `json:"alias,omitempty"`
	// EventInvokeConfig applies to the alias if there is one, else to $LATEST.
	EventInvokeConfig *EventInvokeConfig `json:"eventInvokeConfig,omitempty"`
	// DeadLetterTarget is the ARN of the SQS queue or SNS topic that failed
	// asynchronous events go to (DeadLetterQueue).
	DeadLetterTarget string `json:"deadLetterTarget,omitempty"`
	// URL is FunctionUrlConfig (see FunctionURL); nil means none.
	URL *FunctionURL `json:"url,omitempty"`
}

// Qualified returns what events invoke: name:alias, or the name.
func (f *Function) Qualified() string {
	if f.Alias != nil {
		return f.Name + ":" + f.Alias.Name
	}
	return f.Name
}

// BuildKind says how a function's code is made.
type BuildKind string

// Build kinds.
const (
	// BuildGo: `go build` (CGO_ENABLED=0, GOOS=linux, -tags lambda.norpc)
	// into an executable bootstrap, zipped alone.
	BuildGo BuildKind = "go"
	// BuildNode and BuildPython: the directory zipped as it is (dependency
	// installation is the user's).
	BuildNode   BuildKind = "node"
	BuildPython BuildKind = "python"
	// BuildPrebuilt: a provided-runtime directory that already holds an
	// executable bootstrap, zipped as it is.
	BuildPrebuilt BuildKind = "provided-prebuilt"
	// BuildZip: CodeUri names a zip file, used as it is.
	BuildZip BuildKind = "zip"
	// BuildInline: InlineCode, zipped as one file.
	BuildInline BuildKind = "inline"
)

// Build is how to make a function's deployment package.
type Build struct {
	Kind BuildKind `json:"kind"`
	// Dir is the absolute directory CodeUri names (for BuildZip, the zip file).
	Dir string `json:"dir,omitempty"`
	// Arch is the GOARCH of the function's architecture: amd64 or arm64.
	Arch string `json:"arch"`
	// InlineFile and InlineCode (BuildInline): the file name (from the
	// handler's module, e.g. index.js) and its content.
	InlineFile string `json:"inlineFile,omitempty"`
	InlineCode string `json:"inlineCode,omitempty"`
}

// Alias is a function's AutoPublishAlias and what goes with it.
type Alias struct {
	Name string `json:"name"`
	// ProvisionedConcurrency is ProvisionedConcurrencyConfig's
	// ProvisionedConcurrentExecutions; zero means none.
	ProvisionedConcurrency int                   `json:"provisionedConcurrency,omitempty"`
	DeploymentPreference   *DeploymentPreference `json:"deploymentPreference,omitempty"`
}

// Traffic shifting kinds.
const (
	ShiftCanary    = "canary"
	ShiftLinear    = "linear"
	ShiftAllAtOnce = "allAtOnce"
)

// DeploymentPreference is how a new version takes over the alias.
type DeploymentPreference struct {
	// Type is as written (Canary10Percent5Minutes).
	Type string `json:"type"`
	// Kind is canary (Percent first, the rest after Interval), linear
	// (Percent more every Interval) or allAtOnce.
	Kind            string `json:"kind"`
	Percent         int    `json:"percent,omitempty"`
	IntervalMinutes int    `json:"intervalMinutes,omitempty"`
	// Alarms are the alarms named (not evaluated: nimbus rolls back on the
	// new version's error rate).
	Alarms []string `json:"alarms,omitempty"`
	// PreTraffic and PostTraffic are hook functions' names.
	PreTraffic  string `json:"preTraffic,omitempty"`
	PostTraffic string `json:"postTraffic,omitempty"`
}

// EventInvokeConfig is a function's asynchronous invocation configuration.
type EventInvokeConfig struct {
	MaximumRetryAttempts     *int `json:"maximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int `json:"maximumEventAgeInSeconds,omitempty"`
	// OnSuccess and OnFailure are destination ARNs (queue, topic, function).
	OnSuccess string `json:"onSuccess,omitempty"`
	OnFailure string `json:"onFailure,omitempty"`
}

// Queue is an SQS standard queue. Attributes have their defaults filled in.
type Queue struct {
	Name                          string         `json:"name"`
	ARN                           string         `json:"arn"`
	URL                           string         `json:"url"`
	VisibilityTimeout             int            `json:"visibilityTimeout"`
	MessageRetentionPeriod        int            `json:"messageRetentionPeriod"`
	DelaySeconds                  int            `json:"delaySeconds"`
	ReceiveMessageWaitTimeSeconds int            `json:"receiveMessageWaitTimeSeconds"`
	MaximumMessageSize            int            `json:"maximumMessageSize"`
	RedrivePolicy                 *RedrivePolicy `json:"redrivePolicy,omitempty"`
}

// RedrivePolicy sends messages received too often to a dead-letter queue.
type RedrivePolicy struct {
	DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// Attributes returns the queue's attributes as CreateQueue and
// SetQueueAttributes take them.
func (q *Queue) Attributes() map[string]string {
	a := map[string]string{
		"VisibilityTimeout":             itoa(q.VisibilityTimeout),
		"MessageRetentionPeriod":        itoa(q.MessageRetentionPeriod),
		"DelaySeconds":                  itoa(q.DelaySeconds),
		"ReceiveMessageWaitTimeSeconds": itoa(q.ReceiveMessageWaitTimeSeconds),
		"MaximumMessageSize":            itoa(q.MaximumMessageSize),
		"RedrivePolicy":                 "",
	}
	if q.RedrivePolicy != nil {
		b, _ := json.Marshal(q.RedrivePolicy)
		a["RedrivePolicy"] = string(b)
	}
	return a
}

// Topic is an SNS topic. Its subscriptions (inline ones included) are
// Subscription resources.
type Topic struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

// StateMachine is a Step Functions state machine.
type StateMachine struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
	// Type is STANDARD or EXPRESS.
	Type string `json:"type"`
	// Definition is the ASL document, intrinsics and DefinitionSubstitutions applied.
	Definition json.RawMessage `json:"definition"`
}

// EventSourceMapping polls an SQS queue and invokes a function with batches.
type EventSourceMapping struct {
	// FunctionName is name or name:alias.
	FunctionName                   string   `json:"functionName"`
	EventSourceARN                 string   `json:"eventSourceArn"`
	BatchSize                      int      `json:"batchSize"`
	MaximumBatchingWindowInSeconds int      `json:"maximumBatchingWindowInSeconds,omitempty"`
	FunctionResponseTypes          []string `json:"functionResponseTypes,omitempty"`
	// MaximumConcurrency is ScalingConfig's; zero means no limit.
	MaximumConcurrency int  `json:"maximumConcurrency,omitempty"`
	Enabled            bool `json:"enabled"`
	// FilterPatterns are FilterCriteria's patterns (JSON documents).
	FilterPatterns []string `json:"filterPatterns,omitempty"`
}

// Schedule invokes a target on a schedule (Schedule and ScheduleV2 events).
type Schedule struct {
	Name string `json:"name"`
	// Expression is rate(…), cron(…) or (ScheduleV2) at(…).
	Expression string `json:"expression"`
	// Timezone is ScheduleExpressionTimezone (ScheduleV2); empty means UTC.
	Timezone string `json:"timezone,omitempty"`
	// Target is the ARN invoked: a function (qualified by its alias if it has
	// one) or a state machine.
	Target string `json:"target"`
	// Input is the event (JSON) sent; empty means the scheduler's own event.
	Input   string `json:"input,omitempty"`
	Enabled bool   `json:"enabled"`
}

// Subscription delivers a topic's messages to a function or a queue.
type Subscription struct {
	TopicARN string `json:"topicArn"`
	// Protocol is lambda or sqs (other protocols are kept as written).
	Protocol string `json:"protocol"`
	// Endpoint is the function's (qualified) ARN or the queue's ARN.
	Endpoint          string          `json:"endpoint"`
	FilterPolicy      json.RawMessage `json:"filterPolicy,omitempty"`
	FilterPolicyScope string          `json:"filterPolicyScope,omitempty"`
}

// Unsupported is a resource (or function event) nimbus does not provide.
type Unsupported struct {
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
}

// Output is a resolved template output.
type Output struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	ExportName  string `json:"exportName,omitempty"`
}

// Functions returns the plan's functions, in order.
func (p *Plan) Functions() []*Function {
	var fs []*Function
	for i := range p.Resources {
		if f := p.Resources[i].Function; f != nil {
			fs = append(fs, f)
		}
	}
	return fs
}

// APIs returns the plan's gateway APIs, in order, as the gateway takes them.
func (p *Plan) APIs() []gateway.API {
	var apis []gateway.API
	for i := range p.Resources {
		if a := p.Resources[i].API; a != nil {
			apis = append(apis, *a)
		}
	}
	return apis
}

// Resource returns the resource with a logical id, or nil.
func (p *Plan) Resource(logicalID string) *Resource {
	for i := range p.Resources {
		if p.Resources[i].LogicalID == logicalID {
			return &p.Resources[i]
		}
	}
	return nil
}
