package executions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// nested runs the Task resources that are not Lambda's (lambdatask.Runner
// hands them over): arn:aws:states:::states:startExecution with its .sync,
// .sync:2 and .waitForTaskToken patterns, and sqs:sendMessage / sns:publish
// (request-response and .waitForTaskToken) through the Messenger. Other
// integrations fail the task with States.TaskFailed saying they are not supported.
type nested struct{ s *Service }

func (n nested) RunTask(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	res := req.Resource
	if res.Kind == asl.ResourceService && res.Service == "states" && res.Action == "startExecution" {
		return n.startExecution(ctx, req)
	}
	direct := res.Pattern == "" || res.Pattern == asl.PatternCallback
	if res.Kind == asl.ResourceService && direct && n.s.messenger != nil {
		switch {
		case res.Service == "sqs" && res.Action == "sendMessage":
			return n.sqsSendMessage(ctx, req)
		case res.Service == "sns" && res.Action == "publish":
			return n.snsPublish(ctx, req)
		}
	}
	return nil, &engine.TaskError{Name: "States.TaskFailed",
		Cause: "nimbus does not support the resource " + res.ARN + " yet (supported: Lambda functions, lambda:invoke, states:startExecution, sqs:sendMessage, sns:publish)."}
}

func (n nested) startExecution(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	v, err := jsonv.Parse(req.Input)
	params, ok := v.(*jsonv.Object)
	if err != nil || !ok {
		return nil, &engine.TaskError{Name: "States.Runtime", Cause: "The Parameters of a states:startExecution task must be an object."}
	}
	str := func(k string) (string, bool) {
		x, ok := params.Get(k)
		s, isStr := x.(string)
		return s, ok && isStr
	}
	arn, _ := str("StateMachineArn")
	in := StartInput{MachineARN: arn, startedBy: req.ID}
	in.Name, _ = str("Name")
	if in.Name == "" {
		// Stable across a resume, so a re-run attempt finds its child.
		h := sha256.Sum256([]byte(req.ID))
		x := hex.EncodeToString(h[:16])
		in.Name = x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
	}
	input := "{}"
	if x, ok := params.Get("Input"); ok && x != nil {
		if s, isStr := x.(string); isStr {
			input = s
		} else {
			input = jsonv.String(x)
		}
	}
	in.Input = &input
	s := n.s
	m, ver, err := s.resolveMachine(ctx, arn)
	if err != nil {
		return nil, sfnTaskError(err)
	}
	if m.Type == asl.Express && (req.Resource.Pattern == asl.PatternSync || req.Resource.Pattern == asl.PatternSync2) {
		if _, err := in.prepare(); err != nil {
			return nil, sfnTaskError(err)
		}
		x, rec, err := s.expressRun(ctx, m, ver, in, input, false)
		if err != nil {
			return nil, sfnTaskError(err)
		}
		if req.Submitted != nil {
			req.Submitted(startOutput(rec.ARN, rec.Start))
		}
		e, err := s.runSync(ctx, x, rec)
		if err != nil {
			return nil, err
		}
		return syncResult(e, req.Resource.Pattern == asl.PatternSync2)
	}
	e, err := s.Start(ctx, in)
	if err != nil {
		return nil, sfnTaskError(err)
	}
	out := startOutput(e.ARN, e.Start)
	switch req.Resource.Pattern {
	case asl.PatternSync, asl.PatternSync2:
	default:
		return out, nil
	}
	if req.Submitted != nil {
		req.Submitted(out)
	}
	r, err := s.waitEnded(ctx, e.ARN)
	if err != nil {
		return nil, err
	}
	return syncResult(s.view(r), req.Resource.Pattern == asl.PatternSync2)
}

// startOutput is the result of the request-response pattern, shaped as
// Step Functions renders the StartExecution response (Java SDK style).
func startOutput(arn string, start time.Time) json.RawMessage {
	reqID := lambda.NewRequestID()
	body := `{"executionArn":"` + arn + `","startDate":` + strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', -1, 64) + `}`
	length := strconv.Itoa(len(body))
	date := strings.Replace(time.Now().UTC().Format(time.RFC1123), "UTC", "GMT", 1)
	list := func(s string) []any { return []any{s} }
	all := jsonv.NewObject(5)
	all.Set("x-amzn-RequestId", list(reqID))
	all.Set("connection", list("keep-alive"))
	all.Set("Content-Length", list(length))
	all.Set("Date", list(date))
	all.Set("Content-Type", list("application/x-amz-json-1.0"))
	hdr := jsonv.NewObject(5)
	hdr.Set("connection", "keep-alive")
	hdr.Set("Content-Length", length)
	hdr.Set("Content-Type", "application/x-amz-json-1.0")
	hdr.Set("Date", date)
	hdr.Set("x-amzn-RequestId", reqID)
	meta := jsonv.NewObject(3)
	meta.Set("AllHttpHeaders", all)
	meta.Set("HttpHeaders", hdr)
	meta.Set("HttpStatusCode", jsonv.Int(200))
	rm := jsonv.NewObject(1)
	rm.Set("RequestId", reqID)
	out := jsonv.NewObject(4)
	out.Set("ExecutionArn", arn)
	out.Set("SdkHttpMetadata", meta)
	out.Set("SdkResponseMetadata", rm)
	out.Set("StartDate", jsonv.Int(start.UnixMilli()))
	return jsonv.Marshal(out)
}

// syncResult is the result of the .sync (JSON text input and output) and
// .sync:2 (JSON values) patterns: the child's DescribeExecution with
// capitalised keys. A child that did not succeed fails the task with
// States.TaskFailed and that description as cause.
func syncResult(e Execution, parsed bool) (json.RawMessage, error) {
	o := jsonv.NewObject(12)
	o.Set("ExecutionArn", e.ARN)
	text := func(k string, s *string) {
		if s == nil {
			return
		}
		if parsed {
			if v, err := jsonv.ParseString(*s); err == nil {
				o.Set(k, v)
				return
			}
		}
		o.Set(k, *s)
	}
	in := e.Input
	text("Input", &in)
	incl := jsonv.NewObject(1)
	incl.Set("Included", true)
	o.Set("InputDetails", incl)
	o.Set("Name", e.Name)
	if e.Output != nil {
		text("Output", e.Output)
		o.Set("OutputDetails", incl)
	}
	o.Set("RedriveCount", jsonv.Int(0))
	o.Set("RedriveStatus", "NOT_REDRIVABLE")
	o.Set("RedriveStatusReason", "Execution is "+e.Status+" and cannot be redriven")
	o.Set("StartDate", jsonv.Int(e.Start.UnixMilli()))
	o.Set("StateMachineArn", e.MachineARN)
	o.Set("Status", e.Status)
	o.Set("StopDate", jsonv.Int(e.Stop.UnixMilli()))
	if e.Error != nil {
		o.Set("Error", *e.Error)
	}
	if e.Cause != nil {
		o.Set("Cause", *e.Cause)
	}
	if e.Status != engine.StatusSucceeded {
		return nil, &engine.TaskError{Name: "States.TaskFailed", Cause: jsonv.String(o)}
	}
	return jsonv.Marshal(o), nil
}

// sfnTaskError names a failed StartExecution call as Step Functions does
// for its own API: StepFunctions.<Code>Exception.
func sfnTaskError(err error) error {
	e, ok := lambda.AsError(err)
	if !ok {
		return err
	}
	return &engine.TaskError{
		Name: "StepFunctions." + e.Code + "Exception",
		Cause: e.Message + " (Service: AWSStepFunctions; Status Code: " + strconv.Itoa(e.Status) + "; Error Code: " + e.Code +
			"; Request ID: " + lambda.NewRequestID() + "; Proxy: null)",
	}
}
