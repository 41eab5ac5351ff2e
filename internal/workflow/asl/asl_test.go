package asl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseModel(t *testing.T) {
	def, err := Parse([]byte(`{
	  "Comment": "c", "StartAt": "T", "TimeoutSeconds": 30,
	  "States": {
	    "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"a.$": "$.x"},
	          "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "M"}],
	          "HeartbeatSeconds": 5, "Next": "M"},
	    "M": {"Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value"}, "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "Next": "C"},
	    "C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "StringEquals": "x"}, "Next": "W"}], "Default": "F"},
	    "W": {"Type": "Wait", "Timestamp": "2024-01-01T00:00:00.5+01:00", "End": true},
	    "F": {"Type": "Fail", "ErrorPath": "States.Format('{}', $.e)"}
	  }}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	task := def.States["T"]
	if r := task.Retry[0]; r.MaxAttempts != 3 || r.IntervalSeconds != 1 || r.BackoffRate != 2 || r.JitterStrategy != "NONE" {
		t.Errorf("retrier defaults: %+v", r)
	}
	if task.Catch[0].ResultPath.Path.String() != "$.err" || task.HeartbeatSeconds != 5 {
		t.Errorf("task: %+v", task)
	}
	m := def.States["M"]
	if m.ItemSelector == nil || m.Parameters != nil || m.ProcessorMode != "INLINE" || m.Processor.StartAt != "P" {
		t.Errorf("legacy Map Parameters/Iterator not normalized: %+v", m)
	}
	if def.States["C"].Choices[0].Operator != "Not" || def.TimeoutSeconds != 30 || !def.States["W"].HasTimestamp {
		t.Error("choice, timeout or timestamp not parsed")
	}
	if r, _ := ParseResource(task.Resource); r.Kind != ResourceService || r.Service != "lambda" || r.Pattern != PatternCallback {
		t.Errorf("resource %+v", r)
	}
}

func TestValidationMessages(t *testing.T) {
	tests := []struct{ def, typ, want string }{
		{`{}`, "", "SCHEMA_VALIDATION_FAILED: These fields are required: [States, StartAt] at /"},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, "", "MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next"},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}`, "", `UNREACHABLE_STATE: State "B" is not reachable. at /States/B`},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Foo":1}}}`, "", `SCHEMA_VALIDATION_FAILED: The field "Foo" is not supported by Step Functions at /States/A`},
		{`{"StartAt":"A","States":{"A":{"Type":"Wait","Timestamp":"2016-12-05 21:29:29Z","End":true}}}`, "", "SCHEMA_VALIDATION_FAILED: String does not match RFC3339 timestamp at /States/A/Timestamp"},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"p.$":"States.Format('\\\"x')"},"End":true}}}`, "", "SCHEMA_VALIDATION_FAILED: The value for the field 'p.$' must be a valid JSONPath or a valid intrinsic function call at /States/A/Parameters"},
		{`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::dynamodb:query","End":true}}}`, "", "SCHEMA_VALIDATION_FAILED: The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is not a valid resource ARN, or the resource is not available in this region. at /States/A/Resource"},
		{`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync","End":true}}}`, Express, "SCHEMA_VALIDATION_FAILED: Express state machine does not support '.sync' service integration at /States/A/Resource"},
		{`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","QueryLanguage":"JSONPath","End":true}}}`, "", "SCHEMA_VALIDATION_FAILED: 'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine at /States/A"},
		{`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Retry":[{"ErrorEquals":["States.ALL","X"]}],"End":true}}}`, "", "States.ALL must appear alone"},
		{`{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}`, "", "must be a valid ReferencePath"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.def), Options{Type: tt.typ})
		var de *Error
		if !errors.As(err, &de) {
			t.Errorf("%s: accepted", tt.def)
			continue
		}
		if !strings.Contains(de.Error(), tt.want) {
			t.Errorf("%s:\n got  %s\n want %s", tt.def, de.Error(), tt.want)
		}
	}
	d := Validate([]byte("not a definition"), Options{})
	if len(d) != 1 || d[0].Code != CodeInvalidJSON || d[0].Location != `[Source: (String)"not a definition"; line: 1, column: 4]` {
		t.Errorf("invalid JSON: %+v", d)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`,
		`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"And":[{"Variable":"$.a","IsPresent":true}],"Next":"C"}]}}}`,
		`{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"ItemBatcher":{"MaxItemsPerBatch":2},"End":true}}}`,
		`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e"}}}],"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"FULL"}],"End":true}}}`,
		`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:s3:getObject","Credentials":{"RoleArn.$":"$.r"},"End":true}}}`,
		`{"QueryLanguage":"JSONata","StartAt":"W","States":{"W":{"Type":"Wait","Seconds":"{% 1 %}","End":true}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		def, err := Parse([]byte(s), Options{})
		if err == nil && (def == nil || def.States[def.StartAt] == nil) {
			t.Fatal("valid definition without its start state")
		}
		_ = Validate([]byte(s), Options{Type: Express})
	})
}
