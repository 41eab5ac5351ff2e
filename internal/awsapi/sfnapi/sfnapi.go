// Package sfnapi serves the AWS Step Functions API in the AWS JSON 1.0
// protocol that the SDKs and the AWS CLI speak: POST / with "X-Amz-Target:
// AWSStepFunctions.<Action>" and "Content-Type: application/x-amz-json-1.0",
// over the workflow service (workflow/executions). It only decodes, checks
// wire shapes, calls the service and encodes.
//
// Errors travel as *lambda.Error carrying the Step Functions exception name;
// they are written once, in writeError, in the service's JSON shape: the
// HTTP status, header X-Amzn-ErrorType (the name) and body
// {"__type": "com.amazonaws.swf.service.model.v20120810#<Name>", "message": …},
// which is what the SDKs decode. Internal errors are logged and answered 500
// without their text. Timestamps are epoch seconds (JSON numbers).
//
// StartSyncExecution: SDKs send it to the host "sync-" + the endpoint's
// host. Against a local endpoint that name does not resolve; clients must
// turn the host prefix off (aws-sdk-go-v2: smithyhttp.DisableEndpointHostPrefix,
// botocore: Config(inject_host_prefix=False), AWS CLI: no switch). The
// server answers it on any host.
package sfnapi

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
)

// TargetPrefix starts the X-Amz-Target header of every Step Functions request.
const TargetPrefix = "AWSStepFunctions."

// MaxBody bounds a request body: a 1 MiB definition, escaped in JSON, fits.
const MaxBody = 4 << 20

// API is the Step Functions API handler.
type API struct {
	log *slog.Logger
	svc *executions.Service
	ops map[string]op
}

// op serves one action: it decodes body and returns the value to encode.
type op func(r *http.Request, body []byte) (any, error)

// New returns the API over the workflow service.
func New(log *slog.Logger, svc *executions.Service) *API {
	a := &API{log: log, svc: svc}
	a.ops = map[string]op{
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
	}
	return a
}

// Handler returns the handler for POST / requests whose X-Amz-Target starts
// with TargetPrefix.
func (a *API) Handler() http.Handler { return a }

// ServeHTTP serves one Step Functions request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	f := a.ops[action]
	if !ok || f == nil || r.Method != http.MethodPost {
		a.writeError(w, &lambda.Error{Code: codeUnknownOperation, Status: http.StatusBadRequest,
			Message: "Unknown operation " + r.Method + " " + r.Header.Get("X-Amz-Target")})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		a.writeError(w, errSerialization("The request body could not be read."))
		return
	}
	if len(body) > MaxBody {
		a.writeError(w, &lambda.Error{Code: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
			Message: "Request must be smaller than " + strconv.Itoa(MaxBody) + " bytes."})
		return
	}
	out, err := f(r, body)
	if err != nil {
		a.writeError(w, err)
		return
	}
	b, err := awsapi.MarshalJSON(out)
	if err != nil {
		a.writeError(w, err)
		return
	}
	awsapi.WriteJSONProtocol(w, "application/x-amz-json-1.0", b)
}

// decode reads a request body; an empty body is an empty request.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return errSerialization("Value for " + te.Field + " has an invalid type.")
		}
		return errSerialization("The request body is not valid JSON.")
	}
	return nil
}

// Error codes this package adds to the service's.
const (
	codeUnknownOperation = "UnknownOperationException"
	codeSerialization    = "SerializationException"
	codeInternal         = "InternalFailure"
)

func errSerialization(msg string) error {
	return &lambda.Error{Code: codeSerialization, Status: http.StatusBadRequest, Message: msg}
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
	case codeUnknownOperation, codeSerialization:
		return "com.amazon.coral.service#" + code
	case codeInternal:
		return "com.amazon.coral.service#InternalFailure"
	case executions.CodeValidation:
		return "com.amazon.coral.validate#ValidationException"
	}
	return "com.amazonaws.swf.service.model.v20120810#" + code
}

// writeError writes err in the Step Functions JSON error shape.
func (a *API) writeError(w http.ResponseWriter, err error) {
	e, ok := lambda.AsError(err)
	switch {
	case ok:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// The caller went away (or the server is stopping) while the call waited.
		e = &lambda.Error{Code: executions.CodeUnavailable, Status: http.StatusServiceUnavailable, Message: "The request was cancelled before it completed."}
	default:
		a.log.Error("sfn: internal error", "err", err)
		e = &lambda.Error{Code: codeInternal, Status: http.StatusInternalServerError, Message: "An internal error occurred; see the server log."}
	}
	b, _ := awsapi.MarshalJSON(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{wireType(e.Code), e.Message})
	h := w.Header()
	h["Content-Type"] = []string{"application/x-amz-json-1.0"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["X-Amzn-Errortype"] = []string{e.Code}
	h["X-Amzn-Requestid"] = []string{lambda.NewRequestID()}
	w.WriteHeader(e.Status)
	w.Write(b)
}
