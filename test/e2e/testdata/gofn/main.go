// Command gofn is a Lambda function built with aws-lambda-go for nimbus's
// end-to-end tests. The event's "action" selects a behaviour.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Sleep  int    `json:"sleepMs"`
	Size   int    `json:"size"`
	Code   int    `json:"code"`
	File   string `json:"file"`
	Text   string `json:"text"`
}

type seen struct {
	Version       string            `json:"version"`
	RequestID     string            `json:"requestId"`
	FunctionArn   string            `json:"functionArn"`
	RemainingMs   int64             `json:"remainingMs"`
	ClientContext map[string]string `json:"clientCustom,omitempty"`
	Env           map[string]string `json:"env"`
	Pid           int               `json:"pid"`
	Event         event             `json:"event"`
}

const version = "v1"

func handle(ctx context.Context, ev event) (any, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	switch ev.Action {
	case "error":
		return nil, errors.New("boom: " + ev.Text)
	case "panic":
		panic("panic: " + ev.Text)
	case "exit":
		fmt.Println("about to exit")
		os.Exit(ev.Code)
	case "sleep":
		time.Sleep(time.Duration(ev.Sleep) * time.Millisecond)
	case "big":
		return strings.Repeat("x", ev.Size), nil
	case "print":
		fmt.Println(ev.Text)
		fmt.Fprintln(os.Stderr, "stderr: "+ev.Text)
	case "write":
		time.Sleep(time.Duration(ev.Sleep) * time.Millisecond)
		f, err := os.OpenFile(ev.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(f, ev.Text)
		f.Close()
	}
	deadline, _ := ctx.Deadline()
	s := seen{Version: version, RequestID: lc.AwsRequestID, FunctionArn: lc.InvokedFunctionArn,
		RemainingMs: time.Until(deadline).Milliseconds(), Pid: os.Getpid(), Event: ev, Env: map[string]string{}}
	if lc.ClientContext.Custom != nil {
		s.ClientContext = lc.ClientContext.Custom
	}
	for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT",
		"_LAMBDA_SERVER_PORT", "AWS_LAMBDA_RUNTIME_API", "AWS_ENDPOINT_URL", "MY_VAR", "TZ", "_X_AMZN_TRACE_ID", "AWS_LAMBDA_INITIALIZATION_TYPE"} {
		if v, ok := os.LookupEnv(k); ok {
			s.Env[k] = v
		}
	}
	return s, nil
}

func main() { lambda.Start(handle) }
