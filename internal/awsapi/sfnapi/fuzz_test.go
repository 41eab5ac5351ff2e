package sfnapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequests drives every action with arbitrary bodies through the real
// handler and service (JetStream in a temporary directory): no panic, every
// answer is a well-formed AWS JSON response, and nothing a client sends
// causes an internal error.
func FuzzRequests(f *testing.F) {
	sm := "arn:aws:states:us-east-1:000000000000:stateMachine:fz"
	seeds := []struct{ action, body string }{
		{"CreateStateMachine", `{"name":"fz","definition":"{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}}","roleArn":"r"}`},
		{"CreateStateMachine", `{"name":"fx","type":"EXPRESS","definition":"{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}}","roleArn":"r","loggingConfiguration":{"level":"ALL","destinations":[{}]}}`},
		{"DescribeStateMachine", `{"stateMachineArn":"` + sm + `"}`},
		{"UpdateStateMachine", `{"stateMachineArn":"` + sm + `","definition":"{}","publish":true,"versionDescription":"v"}`},
		{"ListStateMachines", `{"maxResults":1,"nextToken":"QQ"}`},
		{"ValidateStateMachineDefinition", `{"definition":"{\"StartAt\":1}","severity":"WARNING","maxResults":1}`},
		{"StartExecution", `{"stateMachineArn":"` + sm + `","name":"n","input":"{\"a\":[1,2]}"}`},
		{"StartSyncExecution", `{"stateMachineArn":"` + sm + `:1","input":"1"}`},
		{"DescribeExecution", `{"executionArn":"arn:aws:states:us-east-1:000000000000:execution:fz:n"}`},
		{"ListExecutions", `{"stateMachineArn":"` + sm + `","statusFilter":"RUNNING","maxResults":2,"nextToken":"MTIz"}`},
		{"StopExecution", `{"executionArn":"arn:aws:states:us-east-1:000000000000:execution:fz:n","error":"e"}`},
		{"GetExecutionHistory", `{"executionArn":"arn:aws:states:us-east-1:000000000000:execution:fz:n","reverseOrder":true,"includeExecutionData":false,"nextToken":"MQ"}`},
		{"DescribeStateMachineForExecution", `{"executionArn":"arn:aws:states:us-east-1:000000000000:express:fz:n:x"}`},
		{"SendTaskSuccess", `{"taskToken":"YXJuOmF3czpzdGF0ZXM6dXMtZWFzdC0xOjAwMDAwMDAwMDAwMDpleGVjdXRpb246Zno6bg.AAAA","output":"{}"}`},
		{"SendTaskFailure", `{"taskToken":"x.y","error":"E","cause":"C"}`},
		{"SendTaskHeartbeat", `{"taskToken":"..."}`},
		{"DeleteStateMachine", `{"stateMachineArn":"` + sm + `"}`},
		{"ListTagsForResource", `{"resourceArn":"` + sm + `"}`},
	}
	for _, s := range seeds {
		f.Add(s.action, s.body)
	}
	api := newEnv(f).api
	f.Fuzz(func(t *testing.T, action, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", TargetPrefix+action)
		w := httptest.NewRecorder()
		api.Handler().ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: status %d: %s", action, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: invalid JSON answer %q", action, body, w.Body)
		}
		if w.Code != 200 {
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Type, "#") || w.Header().Get("X-Amzn-ErrorType") == "" {
				t.Fatalf("%s %q: error shape %q", action, body, w.Body)
			}
		}
	})
}
