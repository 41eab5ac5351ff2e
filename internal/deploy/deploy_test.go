package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/template"
)

func fn(id, name string, deps ...string) template.Resource {
	return template.Resource{LogicalID: id, Type: template.TypeFunction, DependsOn: deps,
		Function: &template.Function{Name: name, ARN: "arn:aws:lambda:us-east-1:000000000000:function:" + name, Runtime: "nodejs20.x", CodeSHA256: "sha-" + name}}
}

func queue(id, name string) template.Resource {
	return template.Resource{LogicalID: id, Type: template.TypeQueue, Queue: &template.Queue{Name: name, ARN: "arn:aws:sqs:us-east-1:000000000000:" + name}}
}

func topic(id, name string) template.Resource {
	return template.Resource{LogicalID: id, Type: template.TypeTopic, Topic: &template.Topic{Name: name, ARN: "arn:aws:sns:us-east-1:000000000000:" + name}}
}

func ids(rs []template.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.LogicalID)
	}
	return out
}

func TestFilter(t *testing.T) {
	plan := &template.Plan{Stack: "s", Resources: []template.Resource{
		topic("Events", "s-Events"),
		queue("Jobs", "s-Jobs"),
		fn("Fn", "s-Fn", "Events"), // its dead-letter topic
		{LogicalID: "FnNote", Type: template.TypeSubscription, DependsOn: []string{"Fn", "Events"},
			Subscription: &template.Subscription{TopicARN: "arn:aws:sns:us-east-1:000000000000:s-Events", Protocol: "lambda", Endpoint: "arn:aws:lambda:us-east-1:000000000000:function:s-Fn"}},
		{LogicalID: "FnTick", Type: template.TypeRule, DependsOn: []string{"Fn"}, Schedule: &template.Schedule{Name: "s-FnTick", Expression: "rate(1 minute)"}},
		{LogicalID: "FnAt", Type: template.TypeSchedule, DependsOn: []string{"Fn"}, Schedule: &template.Schedule{Name: "s-FnAt", Expression: "at(2030-01-01T00:00:00)"}},
		{LogicalID: "FnJobs", Type: template.TypeEventSourceMapping, DependsOn: []string{"Fn", "Jobs"}, EventSourceMapping: &template.EventSourceMapping{FunctionName: "s-Fn", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:s-Jobs"}},
	}, Unsupported: []template.Unsupported{{LogicalID: "Role", Type: "AWS::IAM::Role", Reason: "IAM is not enforced by nimbus"}}}

	tests := []struct {
		have        map[service]bool
		deployed    []string
		unsupported []string
		warnings    int
	}{
		{map[service]bool{serviceSNS: true, serviceEvents: true}, []string{"Events", "Jobs", "Fn", "FnNote", "FnTick", "FnJobs"}, []string{"Role", "FnAt"}, 1},
		{map[service]bool{serviceEvents: true}, []string{"Jobs", "Fn", "FnTick", "FnJobs"}, []string{"Role", "Events", "FnNote", "FnAt"}, 4},
		{map[service]bool{}, []string{"Jobs", "Fn", "FnJobs"}, []string{"Role", "Events", "FnNote", "FnTick", "FnAt"}, 5},
	}
	for _, tt := range tests {
		out, warnings, err := filter(plan, tt.have)
		if err != nil {
			t.Fatal(err)
		}
		var unsupported []string
		for _, u := range out.Unsupported {
			unsupported = append(unsupported, u.LogicalID)
		}
		if got := ids(out.Resources); !slices.Equal(got, tt.deployed) {
			t.Errorf("filter(have %v) deploys %v, want %v", tt.have, got, tt.deployed)
		}
		if !slices.Equal(unsupported, tt.unsupported) {
			t.Errorf("filter(have %v) reports %v unsupported, want %v", tt.have, unsupported, tt.unsupported)
		}
		if len(warnings) != tt.warnings {
			t.Errorf("filter(have %v) warns %q, want %d warnings", tt.have, warnings, tt.warnings)
		}
		if f := out.Resource("Fn"); !tt.have[serviceSNS] && len(f.DependsOn) != 0 {
			t.Errorf("filter(have %v): Fn still depends on %v", tt.have, f.DependsOn)
		}
	}
	if len(plan.Resources[2].DependsOn) != 1 || len(plan.Unsupported) != 1 {
		t.Error("filter changed the plan it was given")
	}
}

// TestDeletes: removed resources and the old identities of replaced ones are
// deleted dependents first, except when the new plan uses the same identity.
func TestDeletes(t *testing.T) {
	prev := &template.Plan{Resources: []template.Resource{queue("Jobs", "s-Jobs"), fn("A", "s-A"), fn("B", "shared"), fn("C", "s-C")}}
	next := &template.Plan{Resources: []template.Resource{fn("A", "s-A2"), fn("B2", "shared")}}
	a := &applier{prev: prev, next: next, deleted: map[string]bool{}}
	got := ids(derefs(a.deletes(template.Diff(prev, next))))
	// C and Jobs are removed, A replaced (s-A → s-A2); B became B2 with the
	// same FunctionName: deleting B would delete B2.
	if want := []string{"C", "A", "Jobs"}; !slices.Equal(got, want) {
		t.Errorf("deletes = %v, want %v", got, want)
	}
	if !a.deleted["B"] {
		t.Error("B, taken over by B2, is not recorded as gone")
	}
}

func derefs(rs []*template.Resource) []template.Resource {
	var out []template.Resource
	for _, r := range rs {
		out = append(out, *r)
	}
	return out
}

// TestPartial: the record a failed deploy leaves.
func TestPartial(t *testing.T) {
	prev := &template.Plan{Stack: "s", Resources: []template.Resource{queue("Jobs", "s-Jobs"), fn("A", "s-A"), fn("Old", "s-Old"), fn("R", "s-R")}}
	newA := fn("A", "s-A")
	newA.Function.CodeSHA256 = "changed"
	next := &template.Plan{Stack: "s", Resources: []template.Resource{queue("Jobs", "s-Jobs"), fn("R", "s-R2"), newA, fn("B", "s-B"), fn("C", "s-C")}}
	a := &applier{prev: prev, next: next, deleted: map[string]bool{},
		done: map[string]bool{"Jobs": true, "R": true}, failed: "A"}
	got := a.partial()
	type row struct{ id, typ, name, sha string }
	var rows []row
	for _, r := range got.Resources {
		x := row{id: r.LogicalID, typ: r.Type, name: r.PhysicalID()}
		if r.Function != nil {
			x.sha = r.Function.CodeSHA256
		}
		rows = append(rows, x)
	}
	want := []row{
		{"Jobs", template.TypeQueue, "s-Jobs", ""},
		{"R", template.TypeFunction, "s-R2", "sha-s-R2"},            // applied: new definition
		{"RReplaced", template.TypeFunction, "s-R", "sha-s-R"},      // its old identity, still to delete
		{"A", template.TypeFunction + incomplete, "s-A", "changed"}, // failed: applied again next time
		{"Old", template.TypeFunction, "s-Old", "sha-s-Old"},        // removed, not deleted yet
	}
	if !slices.Equal(rows, want) {
		t.Errorf("partial:\n got %v\nwant %v", rows, want)
	}
	// The next deploy re-applies A (a "replacement" of the same identity,
	// which deletes nothing) and deletes RReplaced and Old.
	c := template.Diff(got, next)
	var upd []string
	for _, u := range c.Update {
		upd = append(upd, u.LogicalID)
	}
	b := &applier{prev: got, next: next, deleted: map[string]bool{}}
	if dels := ids(derefs(b.deletes(c))); !slices.Equal(upd, []string{"A"}) || !slices.Equal(dels, []string{"Old", "RReplaced"}) {
		t.Errorf("after the failure, the next deploy updates %v and deletes %v", upd, dels)
	}

	first := &applier{next: next, done: map[string]bool{}, deleted: map[string]bool{}}
	if p := first.partial(); p != nil {
		t.Errorf("a first deploy that did nothing records %v", ids(p.Resources))
	}
}

func TestConfigUpdate(t *testing.T) {
	f := &template.Function{Name: "f", Runtime: "nodejs20.x", Handler: "index.handler", MemorySize: 128, Timeout: 3, EphemeralStorage: 512,
		Environment: map[string]string{"A": "1"}}
	cur := func() *types.FunctionConfiguration {
		return &types.FunctionConfiguration{Runtime: "nodejs20.x", Handler: aws.String("index.handler"), Description: aws.String(""),
			MemorySize: aws.Int32(128), Timeout: aws.Int32(3), EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(512)},
			Environment: &types.EnvironmentResponse{Variables: map[string]string{"A": "1"}}}
	}
	if in := configUpdate(cur(), f); in != nil {
		t.Errorf("configUpdate of an equal configuration = %+v, want nil", in)
	}
	c := cur()
	c.Environment.Variables["A"] = "2"
	c.Timeout = aws.Int32(10)
	in := configUpdate(c, f)
	if in == nil || in.Environment == nil || in.Environment.Variables["A"] != "1" || aws.ToInt32(in.Timeout) != 3 || in.MemorySize != nil || in.Handler != nil {
		t.Errorf("configUpdate = %+v, want the environment and timeout only", in)
	}
	c = cur()
	g := *f
	g.Environment, g.DeadLetterTarget = nil, "arn:aws:sqs:us-east-1:000000000000:dlq"
	in = configUpdate(c, &g)
	if in == nil || in.Environment == nil || len(in.Environment.Variables) != 0 || aws.ToString(in.DeadLetterConfig.TargetArn) != g.DeadLetterTarget {
		t.Errorf("configUpdate clearing the environment = %+v", in)
	}
}

func TestEndpoints(t *testing.T) {
	plan := &template.Plan{Resources: []template.Resource{{LogicalID: "Api", API: &gateway.API{ID: "abc", Stage: "Prod", Routes: []gateway.Route{
		{Key: "GET /hello/{name}", Integration: gateway.Integration{Function: "s-Hello"}},
		{Key: "$default", Integration: gateway.Integration{Function: "s-Any:live"}},
	}}}}}
	got := endpoints(plan, "http://127.0.0.1:8080")
	want := []Endpoint{
		{APIID: "abc", Method: "GET", Path: "/hello/{name}", URL: "http://127.0.0.1:8080/hello/{name}", Function: "s-Hello"},
		{APIID: "abc", Method: "ANY", Path: "/", URL: "http://127.0.0.1:8080/", Function: "s-Any:live", Default: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("endpoints = %+v, want %+v", got, want)
	}
	if u := hostURL("http://127.0.0.1:8080", plan.Resources[0].API); u != "http://abc.execute-api.localhost:8080/Prod/" {
		t.Errorf("hostURL = %s", u)
	}
}

func TestGatewayURL(t *testing.T) {
	tests := []struct{ gateway, endpoint, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8900", "http://127.0.0.1:8080"},
		{"http://0.0.0.0:8080", "http://10.1.2.3:8900", "http://10.1.2.3:8080"},
		{"http://[::]:8080", "http://nimbus.internal:8900", "http://nimbus.internal:8080"},
		{"", "http://127.0.0.1:8900", ""},
	}
	for _, tt := range tests {
		if got := (serverInfo{Gateway: tt.gateway}).gatewayURL(tt.endpoint); got != tt.want {
			t.Errorf("gatewayURL(%q, endpoint %q) = %q, want %q", tt.gateway, tt.endpoint, got, tt.want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		err              error
		notFound, unknow bool
	}{
		{&APIError{Status: 404, Code: "ResourceNotFoundException"}, true, false},
		{&APIError{Status: 404, Code: "UnknownOperationException"}, false, true},
		{&APIError{Status: 412, Code: "PreconditionFailedException"}, false, false},
		{fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: "QueueDoesNotExist"}), true, false},
		{fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: "UnknownOperationException"}), false, true},
		{errors.New("connection refused"), false, false},
		{nil, false, false},
	}
	for _, tt := range tests {
		if got := isNotFound(tt.err); got != tt.notFound {
			t.Errorf("isNotFound(%v) = %v", tt.err, got)
		}
		if got := isUnknownOperation(tt.err); got != tt.unknow {
			t.Errorf("isUnknownOperation(%v) = %v", tt.err, got)
		}
	}
}

// TestStackRecordShape: what the deployer stores is what it reads back.
func TestStackRecordShape(t *testing.T) {
	p := &template.Plan{Stack: "s", Resources: []template.Resource{fn("A", "s-A")}}
	b, err := json.Marshal(map[string]any{"plan": p})
	if err != nil {
		t.Fatal(err)
	}
	var s Stack
	if err := json.Unmarshal(b, &s); err != nil || s.Plan == nil || s.Plan.Resources[0].Function.CodeSHA256 != "sha-s-A" {
		t.Errorf("round trip: %v %+v", err, s)
	}
	if !strings.Contains(string(b), `"codeSha256":"sha-s-A"`) {
		t.Errorf("stored plan lacks the code hash: %s", b)
	}
}
