// Package sfnapi serves the AWS Step Functions API in the AWS JSON 1.0
// protocol that the SDKs and the AWS CLI speak: POST / with "X-Amz-Target:
// AWSStepFunctions.<Action>" and "Content-Type: application/x-amz-json-1.0",
// over the workflow service (workflow/executions). It only decodes, checks
// wire shapes, calls the service and encodes.
//
// Errors travel as *lambda.Error carrying the Step Functions exception name;
// awsapi.JSONService writes them once, in the service's JSON shape: the
// HTTP status, header X-Amzn-ErrorType (the name) and body
// {"__type": "com.amazonaws.swf.service.model.v20120810#<Name>", "message": …}
// (wireType), which is what the SDKs decode. Internal errors are logged and
// answered 500 InternalFailure without their text; a wait cut short by a
// cancelled context is answered 503 ServiceUnavailable. Timestamps are epoch
// seconds (JSON numbers).
//
// StartSyncExecution: SDKs send it to the host "sync-" + the endpoint's
// host. Against a local endpoint that name does not resolve; clients must
// turn the host prefix off (aws-sdk-go-v2: smithyhttp.DisableEndpointHostPrefix,
// botocore: Config(inject_host_prefix=False), AWS CLI: no switch). The
// server answers it on any host.
package sfnapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
)

// TargetPrefix starts the X-Amz-Target header of every Step Functions request.
const TargetPrefix = "AWSStepFunctions."

// MaxBody bounds a request body: a 1 MiB definition, escaped in JSON, fits.
const MaxBody = 4 << 20

// API is the Step Functions API handler.
type API struct {
	svc  *executions.Service
	json *awsapi.JSONService
}

// New returns the API over the workflow service.
func New(log *slog.Logger, svc *executions.Service) *API {
	a := &API{svc: svc}
	a.json = &awsapi.JSONService{
		Prefix:         TargetPrefix,
		ContentType:    "application/x-amz-json-1.0",
		MaxBody:        MaxBody,
		InternalCode:   codeInternal,
		Log:            log,
		UnknownMessage: awsapi.UnknownRequestMessage,
		Classify:       cancelled,
		WireType:       wireType,
		Ops: map[string]awsapi.JSONOp{
			"CreateStateMachine":               a.createStateMachine,
			"DescribeStateMachine":             a.describeStateMachine,
			"UpdateStateMachine":               a.updateStateMachine,
			"DeleteStateMachine":               a.deleteStateMachine,
			"ListStateMachines":                a.listStateMachines,
			"ValidateStateMachineDefinition":   a.validateDefinition,
			"StartExecution":                   a.startExecution,
			"StartSyncExecution":               a.startSyncExecution,
			"DescribeExecution":                a.describeExecution,
			"ListExecutions":                   a.listExecutions,
			"StopExecution":                    a.stopExecution,
			"GetExecutionHistory":              a.getExecutionHistory,
			"DescribeStateMachineForExecution": a.describeStateMachineForExecution,
			"SendTaskSuccess":                  a.sendTaskSuccess,
			"SendTaskFailure":                  a.sendTaskFailure,
			"SendTaskHeartbeat":                a.sendTaskHeartbeat,
			"ListTagsForResource":              a.listTags,
		},
	}
	return a
}

// Handler returns the handler for POST / requests whose X-Amz-Target starts
// with TargetPrefix.
func (a *API) Handler() http.Handler { return a.json }

var decode = awsapi.DecodeJSON

// codeInternal is the code of an internal error.
const codeInternal = "InternalFailure"

// cancelled answers a wait cut short by a cancelled context (the server is
// stopping) as the service does: 503.
func cancelled(err error) *lambda.Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &lambda.Error{Code: executions.CodeUnavailable, Status: http.StatusServiceUnavailable, Message: "The request was cancelled before it completed."}
	}
	return nil
}

// required reports a missing required member as the service does.
func required(field, value string) error {
	if value == "" {
		return &lambda.Error{Code: executions.CodeValidation, Status: http.StatusBadRequest,
			Message: "1 validation error detected: Value null at '" + field + "' failed to satisfy constraint: Member must not be null"}
	}
	return nil
}

// wireType is the "__type" of an error code.
func wireType(code string) string {
	switch code {
	case awsapi.CodeUnknownOperation, awsapi.CodeSerialization:
		return "com.amazon.coral.service#" + code
	case codeInternal:
		return "com.amazon.coral.service#InternalFailure"
	case executions.CodeValidation:
		return "com.amazon.coral.validate#ValidationException"
	}
	return "com.amazonaws.swf.service.model.v20120810#" + code
}
