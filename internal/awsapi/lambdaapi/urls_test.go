package lambdaapi

import (
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

func TestValidateURLInput(t *testing.T) {
	s := func(v string) *string { return &v }
	n := func(v int) *int { return &v }
	cases := []struct {
		name   string
		in     urlInput
		create bool
		want   []string // substrings of the message; none means valid
	}{
		{"minimal create", urlInput{AuthType: s("NONE")}, true, nil},
		{"full", urlInput{AuthType: s("AWS_IAM"), InvokeMode: s("RESPONSE_STREAM"), Cors: &lambda.Cors{AllowMethods: []string{"GET", "*"}, AllowOrigins: []string{"*"}, MaxAge: n(86400)}}, true, nil},
		{"update without fields", urlInput{}, false, nil},
		{"create without auth type", urlInput{}, true, []string{"1 validation error detected", "'authType' failed to satisfy constraint: Member must not be null"}},
		{"every problem listed", urlInput{AuthType: s("OPEN"), InvokeMode: s("FAST"), Cors: &lambda.Cors{AllowMethods: []string{"OPTIONS!"}, MaxAge: n(-1)}}, false,
			[]string{"4 validation errors detected", "[NONE, AWS_IAM]", "[BUFFERED, RESPONSE_STREAM]", "cors.allowMethods", "cors.maxAge"}},
		{"too many methods", urlInput{Cors: &lambda.Cors{AllowMethods: []string{"a", "b", "c", "d", "e", "f", "g"}}}, false, []string{"cors.allowMethods", "less than or equal to 6"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateURLInput(&c.in, c.create)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("valid input refused: %v", err)
				}
				return
			}
			e, ok := lambda.AsError(err)
			if !ok || e.Code != "InvalidParameterValueException" {
				t.Fatalf("error = %v, want InvalidParameterValueException", err)
			}
			for _, w := range c.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q lacks %q", e.Message, w)
				}
			}
		})
	}
}

func TestFunctionURLShape(t *testing.T) {
	a := &API{}
	a.SetGatewayAddr("[::]:8901")
	u := a.FunctionURL("fn", "")
	want := "http://" + lambda.FunctionURLID("fn", lambda.Latest) + ".lambda-url.localhost:8901/"
	if u != want || u != a.FunctionURL("fn", lambda.Latest) {
		t.Fatalf("FunctionURL = %q, want %q", u, want)
	}
	v := a.urlView("fn", "live", lambda.FunctionURLConfig{AuthType: "NONE"})
	if v.FunctionArn != lambda.QualifiedARN("fn", "live") || !strings.HasPrefix(v.FunctionUrl, "http://"+lambda.FunctionURLID("fn", "live")+".") {
		t.Fatalf("alias view %+v", v)
	}
	if v := a.urlView("fn", lambda.Latest, lambda.FunctionURLConfig{}); v.FunctionArn != lambda.FunctionARN("fn") {
		t.Fatalf("$LATEST view ARN %q, want the unqualified ARN", v.FunctionArn)
	}
}
