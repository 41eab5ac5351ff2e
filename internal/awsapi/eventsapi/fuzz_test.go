package eventsapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzAPI: any body to any action is answered without a panic, never with a
// 5xx, and always with a JSON body (the error shape when not 200).
func FuzzAPI(f *testing.F) {
	s := startServer(f)
	actions := []string{"PutRule", "DescribeRule", "ListRules", "DeleteRule", "EnableRule", "DisableRule",
		"PutTargets", "RemoveTargets", "ListTargetsByRule", "ListRuleNamesByTarget", "PutEvents"}
	slices.Sort(actions)
	for i, body := range []string{
		`{"Name":"r","ScheduleExpression":"rate(5 minutes)"}`,
		`{"Name":"r","ScheduleExpression":"cron(0 9 ? * 2#1 *)","State":"DISABLED"}`,
		`{"Rule":"r","Targets":[{"Id":"1","Arn":"arn:aws:lambda:us-east-1:000000000000:function:f","Input":"{}"}]}`,
		`{"Rule":"r","Ids":["1"]}`,
		`{"Name":"r"}`,
		`{"NamePrefix":"r","Limit":1,"NextToken":"cg"}`,
		`{"TargetArn":"arn:aws:lambda:us-east-1:000000000000:function:f"}`,
		`{"Name":null,"Targets":[{"Id":null}]}`,
		`[`, ``, `{"Limit":-1}`,
	} {
		f.Add(uint8(i), body)
	}
	f.Fuzz(func(t *testing.T, action uint8, body string) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", TargetPrefix+actions[int(action)%len(actions)])
		w := httptest.NewRecorder()
		began := time.Now()
		s.api.Handler().ServeHTTP(w, req)
		if d := time.Since(began); d > 5*time.Second {
			t.Fatalf("%s %q took %s", req.Header.Get("X-Amz-Target"), body, d)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %q: status %d %s", req.Header.Get("X-Amz-Target"), body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: body is not JSON: %s", req.Header.Get("X-Amz-Target"), body, w.Body)
		}
		if w.Code != http.StatusOK && w.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("error without X-Amzn-ErrorType: %d %s", w.Code, w.Body)
		}
	})
}
