// Package template reads AWS SAM templates (the subset nimbus supports) and
// turns them into a deployment Plan: plain, JSON-encodable descriptions of the
// functions, queues, topics, state machines, gateway APIs, event source
// mappings, schedules and subscriptions a stack consists of, with every
// intrinsic function resolved locally and every name decided. It does no
// deploying; the deployer applies a Plan (in its order) and stores it, and the
// next deploy applies only Diff(stored, new).
//
// # Stages
//
// Parse checks the syntax and the shape of the template's sections (YAML or
// JSON, CloudFormation's short-form tags such as !Ref and !Sub). Template.Plan
// takes the stack name, the template's directory and parameter overrides,
// resolves parameters, conditions, Globals and intrinsics, and produces the
// Plan. Template.Resolve gives the processed template (conditions applied,
// intrinsics resolved) for display. The only I/O is reading the directories
// and files that CodeUri and DefinitionUri name.
//
// # Names
//
// Everything is named deterministically, so that intrinsics resolve before
// anything exists and redeploys address the same resources: a function, queue,
// topic or state machine without an explicit name is "<stack>-<LogicalId>";
// an API's id is derived from the stack and its logical id (see APIID).
// Resources that SAM generates are named as SAM names them (ServerlessHttpApi,
// ServerlessRestApi, <Function><Event> for event sources).
//
// # What is not supported
//
// Nothing is dropped silently: a resource type, property or event type that
// nimbus cannot provide is listed in Plan.Unsupported or Plan.Warnings, and
// where going on without it would change what the rest means (an unsupported
// authorizer on a route, an image function, an SSM parameter) the template is
// refused with an error. Errors name the place: the line, the logical id and
// the property path ("line 12: Resources.Fn.Properties.Timeout: …").
package template
