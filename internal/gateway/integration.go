package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Service integrations: routes answered by an AWS service action instead of
// a function, as HTTP APIs' first-class AWS_PROXY integrations (integration
// subtypes). The parameters are mappings (mapping.go) evaluated per request;
// the answer is the service action's JSON result with status 200, and a
// service error is answered with its status and {"__type","message"}.

// The integration types (AWS's integration subtypes).
const (
	TypeLambda             = "AWS_PROXY"
	TypeSQSSendMessage     = "SQS-SendMessage"
	TypeSNSPublish         = "SNS-Publish"
	TypeStartExecution     = "StepFunctions-StartExecution"
	TypeStartSyncExecution = "StepFunctions-StartSyncExecution"
)

// integrationParams lists each type's required and optional parameters.
var integrationParams = map[string]struct{ required, optional []string }{
	TypeSQSSendMessage: {[]string{"QueueUrl", "MessageBody"},
		[]string{"DelaySeconds", "MessageAttributes", "MessageDeduplicationId", "MessageGroupId", "MessageSystemAttributes", "Region"}},
	TypeSNSPublish: {[]string{"TopicArn", "Message"},
		[]string{"Subject", "MessageAttributes", "MessageStructure", "MessageDeduplicationId", "MessageGroupId", "Region"}},
	TypeStartExecution:     {[]string{"StateMachineArn"}, []string{"Name", "Input", "TraceHeader", "Region"}},
	TypeStartSyncExecution: {[]string{"StateMachineArn"}, []string{"Name", "Input", "TraceHeader", "Region"}},
}

// MessageAttribute is an SQS or SNS message attribute as the
// MessageAttributes parameter gives it (JSON: {"NAME":{"DataType":"String","StringValue":"v"}}).
type MessageAttribute struct {
	DataType    string
	StringValue *string `json:",omitempty"`
	BinaryValue []byte  `json:",omitempty"`
}

// SendMessageInput is an SQS SendMessage request.
type SendMessageInput struct {
	QueueURL               string
	MessageBody            string
	DelaySeconds           *int
	MessageAttributes      map[string]MessageAttribute
	MessageGroupID         string
	MessageDeduplicationID string
	TraceHeader            string // MessageSystemAttributes.AWSTraceHeader
}

// SendMessageOutput is SendMessage's result as SQS answers it.
type SendMessageOutput struct {
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
	SequenceNumber               string `json:",omitempty"`
}

// PublishInput is an SNS Publish request.
type PublishInput struct {
	TopicARN               string
	Message                string
	Subject                *string
	MessageStructure       string
	MessageAttributes      map[string]MessageAttribute
	MessageGroupID         string
	MessageDeduplicationID string
}

// PublishOutput is Publish's result.
type PublishOutput struct {
	MessageId      string
	SequenceNumber string `json:",omitempty"`
}

// StartExecutionInput is a Step Functions StartExecution or
// StartSyncExecution request.
type StartExecutionInput struct {
	StateMachineARN string
	Name            string
	Input           *string
	TraceHeader     string
}

// QueueSender sends SQS messages. Errors are *lambda.Error with the
// service's code, status and message (QueueDoesNotExist is a 400).
type QueueSender interface {
	SendMessage(ctx context.Context, in SendMessageInput) (SendMessageOutput, error)
}

// TopicPublisher publishes SNS messages; errors as QueueSender's.
type TopicPublisher interface {
	Publish(ctx context.Context, in PublishInput) (PublishOutput, error)
}

// WorkflowStarter starts Step Functions executions. Each returns the
// action's result as Step Functions answers it (JSON-encodable): for
// StartSyncExecution, the finished execution. Errors as QueueSender's.
type WorkflowStarter interface {
	StartExecution(ctx context.Context, in StartExecutionInput) (any, error)
	StartSyncExecution(ctx context.Context, in StartExecutionInput) (any, error)
}

// Services are the targets of service integrations. A nil member makes its
// integrations answer 500 with a message saying the service is not available.
type Services struct {
	Queues    QueueSender
	Topics    TopicPublisher
	Workflows WorkflowStarter
}

// SetServices gives the gateway its service integration targets. Call it
// before serving.
func (g *Gateway) SetServices(s Services) { g.services = s }

// serviceIntegration is a compiled service integration.
type serviceIntegration struct {
	typ    string
	params map[string]mapping
}

func isServiceType(t string) bool { _, ok := integrationParams[t]; return ok }

// validateIntegration reports the problems of a route's integration.
func validateIntegration(a *API, r *Route, add func(string, ...any)) {
	in := &r.Integration
	where := fmt.Sprintf("api %q: route %q: integration", a.ID, r.Key)
	if in.Type == "" || in.Type == TypeLambda {
		if in.Function == "" {
			add("%s needs a function", where)
		}
		if len(in.Parameters) > 0 {
			add("%s: parameters are for service integrations (type %s)", where, serviceTypes())
		}
		return
	}
	spec, ok := integrationParams[in.Type]
	if !ok {
		add("%s: unknown type %q (want %s or %s)", where, in.Type, TypeLambda, serviceTypes())
		return
	}
	if a.Protocol == REST {
		add("%s: %s integrations are for HTTP APIs", where, in.Type)
	}
	if in.Function != "" {
		add("%s: a %s integration has no function", where, in.Type)
	}
	for _, p := range spec.required {
		if in.Parameters[p] == "" {
			add("%s: %s needs the parameter %s", where, in.Type, p)
		}
	}
	names := make([]string, 0, len(in.Parameters))
	for n := range in.Parameters {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !slices.Contains(spec.required, n) && !slices.Contains(spec.optional, n) {
			add("%s: %s has no parameter %q (it takes %s)", where, in.Type, n, strings.Join(append(slices.Clone(spec.required), spec.optional...), ", "))
			continue
		}
		if _, err := parseMapping(in.Parameters[n]); err != nil {
			add("%s: parameter %s: %v", where, n, err)
		}
	}
}

func serviceTypes() string {
	return strings.Join([]string{TypeSQSSendMessage, TypeSNSPublish, TypeStartExecution, TypeStartSyncExecution}, ", ")
}

func compileService(in Integration) *serviceIntegration {
	if !isServiceType(in.Type) {
		return nil
	}
	s := &serviceIntegration{typ: in.Type, params: make(map[string]mapping, len(in.Parameters))}
	for k, v := range in.Parameters {
		s.params[k], _ = parseMapping(v) // validated
	}
	return s
}

// errServiceUnavailable is the answer when the server runs without the service.
var errServiceUnavailable = errors.New("service not available")

// callService runs a service integration and returns the status and JSON
// body to answer.
func (g *Gateway) callService(ctx context.Context, s *serviceIntegration, in *inbound) (int, []byte, error) {
	env := &mapEnv{in: in}
	p := make(map[string]string, len(s.params))
	for k, m := range s.params {
		if v := m.eval(env); v != "" {
			p[k] = v
		}
	}
	for _, req := range integrationParams[s.typ].required {
		if p[req] == "" {
			return 0, nil, lambda.Validation("The request must contain the parameter %s (its mapping evaluated to nothing).", req)
		}
	}
	var out any
	var err error
	switch s.typ {
	case TypeSQSSendMessage:
		if g.services.Queues == nil {
			return 0, nil, errServiceUnavailable
		}
		var sin SendMessageInput
		if sin, err = sendMessageInput(p); err == nil {
			out, err = g.services.Queues.SendMessage(ctx, sin)
		}
	case TypeSNSPublish:
		if g.services.Topics == nil {
			return 0, nil, errServiceUnavailable
		}
		pin := PublishInput{TopicARN: p["TopicArn"], Message: p["Message"], MessageStructure: p["MessageStructure"],
			MessageGroupID: p["MessageGroupId"], MessageDeduplicationID: p["MessageDeduplicationId"]}
		if v, ok := p["Subject"]; ok {
			pin.Subject = &v
		}
		if pin.MessageAttributes, err = messageAttributes(p["MessageAttributes"]); err == nil {
			out, err = g.services.Topics.Publish(ctx, pin)
		}
	case TypeStartExecution, TypeStartSyncExecution:
		if g.services.Workflows == nil {
			return 0, nil, errServiceUnavailable
		}
		win := StartExecutionInput{StateMachineARN: p["StateMachineArn"], Name: p["Name"], TraceHeader: p["TraceHeader"]}
		if v, ok := p["Input"]; ok {
			win.Input = &v
		}
		if s.typ == TypeStartExecution {
			out, err = g.services.Workflows.StartExecution(ctx, win)
		} else {
			out, err = g.services.Workflows.StartSyncExecution(ctx, win)
		}
	}
	if err != nil {
		return 0, nil, err
	}
	body, err := marshal(out)
	return http.StatusOK, body, err
}

func sendMessageInput(p map[string]string) (SendMessageInput, error) {
	in := SendMessageInput{QueueURL: p["QueueUrl"], MessageBody: p["MessageBody"],
		MessageGroupID: p["MessageGroupId"], MessageDeduplicationID: p["MessageDeduplicationId"]}
	if v, ok := p["DelaySeconds"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, lambda.Validation("Value %s for parameter DelaySeconds is invalid. Reason: it must be an integer.", v)
		}
		in.DelaySeconds = &n
	}
	var err error
	if in.MessageAttributes, err = messageAttributes(p["MessageAttributes"]); err != nil {
		return in, err
	}
	if v := p["MessageSystemAttributes"]; v != "" {
		sys, err := messageAttributes(v)
		if err != nil {
			return in, err
		}
		for name, a := range sys {
			if name != "AWSTraceHeader" || a.StringValue == nil {
				return in, lambda.Validation("Message system attribute name '%s' is invalid.", name)
			}
			in.TraceHeader = *a.StringValue
		}
	}
	return in, nil
}

func messageAttributes(v string) (map[string]MessageAttribute, error) {
	if v == "" {
		return nil, nil
	}
	var m map[string]MessageAttribute
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, lambda.Validation("MessageAttributes must be a JSON object of {\"DataType\",\"StringValue\"|\"BinaryValue\"} values: %v", err)
	}
	return m, nil
}

// serviceError is the answer to a failed service integration: the service's
// status and error, never internal detail.
func (g *Gateway) serviceError(x *exchange, s *serviceIntegration, err error) (int, []byte) {
	if errors.Is(err, errServiceUnavailable) {
		x.reason = s.typ + ": the server runs without this service"
		b, _ := marshal(map[string]string{"message": s.typ + " is not available on this server"})
		return http.StatusInternalServerError, b
	}
	if errors.Is(err, context.DeadlineExceeded) {
		x.reason = s.typ + ": integration timed out"
		_, b := errorResponse(HTTP, errTimeout)
		return http.StatusServiceUnavailable, b
	}
	e, ok := lambda.AsError(err)
	if !ok {
		x.reason = s.typ + ": " + err.Error()
		g.log.Error("gateway: service integration failed", "type", s.typ, "err", err)
		_, b := errorResponse(HTTP, errIntegration)
		return http.StatusInternalServerError, b
	}
	x.reason = s.typ + ": " + e.Code + ": " + e.Message
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	b, _ := marshal(map[string]string{"__type": e.Code, "message": e.Message})
	return status, b
}
