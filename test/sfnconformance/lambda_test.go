package sfnconformance

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
	"github.com/nimbus-dev/nimbus/internal/workflow/lambdatask"
)

// fakeLambda emulates the corpus' Lambda functions from their recorded
// behaviour (lambda_functions.*.behavior). It is the in-process stand-in
// for deployed functions.
type fakeLambda struct {
	region, account string
	behaviors       map[string]string // function name -> behaviour text
}

func (f *fakeLambda) Invoke(ctx context.Context, req lambdatask.Request) (lambdatask.Response, error) {
	name := functionName(req.Function)
	reqID := jsonpath.NewUUID()
	behavior, ok := f.behaviors[name]
	if !ok {
		return lambdatask.Response{}, &lambdatask.ServiceError{
			Code:       "ResourceNotFoundException",
			Message:    "Function not found: arn:aws:lambda:" + f.region + ":" + f.account + ":function:" + name + ":$LATEST",
			StatusCode: 404,
			RequestID:  reqID,
		}
	}
	resp := lambdatask.Response{StatusCode: 200, ExecutedVersion: "$LATEST", RequestID: reqID}
	if req.LogType == "Tail" {
		resp.LogResult = lambdatask.LogTail([]byte("START RequestId: " + reqID + " Version: $LATEST\nEND RequestId: " + reqID + "\n"))
	}
	event := req.Payload
	if len(bytes.TrimSpace(event)) == 0 {
		event = []byte("{}")
	}
	switch {
	case strings.HasPrefix(behavior, "returns the event unchanged"):
		resp.Payload = pythonDumps(event)
	case strings.HasPrefix(behavior, "sleeps 60 seconds"):
		select {
		case <-time.After(60 * time.Second):
		case <-ctx.Done():
			return resp, ctx.Err()
		}
		resp.Payload = pythonDumps(event)
	case strings.HasPrefix(behavior, "raises a generic exception"):
		resp.FunctionError = "Unhandled"
		resp.Payload = pythonError("Some exception was raised.", "Exception", reqID,
			"  File \"/var/task/handler.py\", line 2, in handler\n    raise Exception(\"Some exception was raised.\")\n")
	case strings.HasPrefix(behavior, "raises a custom exception"):
		// AWS recorded an empty errorMessage for this handler.
		resp.FunctionError = "Unhandled"
		resp.Payload = pythonError("", "CustomException", reqID,
			"  File \"/var/task/handler.py\", line 9, in handler\n    raise CustomException()\n")
	case strings.HasPrefix(behavior, "returns a string of 257*1024"):
		resp.Payload = jsonv.Marshal(strings.Repeat("a", 257*1024))
	case strings.HasPrefix(behavior, "returns the raw bytes \"HelloWorld!\""):
		resp.Payload = []byte(`"HelloWorld!"`)
	case strings.HasPrefix(behavior, "ignores the event and returns {\"Return\": \"HelloWorld\"}"):
		resp.Payload = pythonDumps([]byte(`{"Return": "HelloWorld"}`))
	default:
		resp.FunctionError = "Unhandled"
		resp.Payload = pythonError("unemulated behaviour: "+behavior, "Runtime.Unemulated", reqID, "")
	}
	return resp, nil
}

// functionName strips an ARN and a qualifier from a FunctionName.
func functionName(fn string) string {
	if i := strings.Index(fn, ":function:"); i >= 0 {
		fn = fn[i+len(":function:"):]
	}
	if i := strings.IndexByte(fn, ':'); i >= 0 {
		fn = fn[:i]
	}
	return fn
}

// pythonError renders a Python runtime's error payload: json.dumps with its
// default ", " and ": " separators.
func pythonError(msg, typ, reqID, frame string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"errorMessage": `)
	b.Write(jsonv.AppendString(nil, msg))
	b.WriteString(`, "errorType": `)
	b.Write(jsonv.AppendString(nil, typ))
	b.WriteString(`, "requestId": `)
	b.Write(jsonv.AppendString(nil, reqID))
	b.WriteString(`, "stackTrace": [`)
	if frame != "" {
		b.Write(jsonv.AppendString(nil, frame))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// pythonDumps re-encodes JSON the way the Python runtime returns a handler's
// result: json.dumps with ", " and ": " separators and ASCII escapes.
func pythonDumps(raw []byte) []byte {
	v, err := jsonv.Parse(raw)
	if err != nil {
		return raw
	}
	var b bytes.Buffer
	var enc func(v any)
	enc = func(v any) {
		switch x := v.(type) {
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				enc(e)
			}
			b.WriteByte(']')
		case *jsonv.Object:
			b.WriteByte('{')
			for i, m := range x.Members() {
				if i > 0 {
					b.WriteString(", ")
				}
				writeASCII(&b, m.Key)
				b.WriteString(": ")
				enc(m.Value)
			}
			b.WriteByte('}')
		case string:
			writeASCII(&b, x)
		default:
			b.Write(jsonv.Marshal(x))
		}
	}
	enc(v)
	return b.Bytes()
}

func writeASCII(b *bytes.Buffer, s string) {
	for _, c := range string(jsonv.AppendString(nil, s)) {
		if c < 0x80 {
			b.WriteRune(c)
			continue
		}
		for _, u := range utf16.Encode([]rune{c}) {
			fmt.Fprintf(b, "\\u%04x", u)
		}
	}
}
