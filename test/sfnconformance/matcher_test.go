package sfnconformance

import (
	"testing"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// TestMatcher checks the comparison itself, so that a lenient matcher can't
// make the corpus pass.
func TestMatcher(t *testing.T) {
	p := func(s string) any {
		v, err := jsonv.ParseString(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	m := &matcher{tokens: []string{"<uuid:1>", "date", "<ArnPart_0idx>"}}
	tests := []struct {
		want, got string
		ok        bool
	}{
		{`{"a":1,"b":[1.0,"x"]}`, `{"b":[1,"x"],"a":1.00}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":1,"b":2}`, `{"a":1}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`"id <uuid:1> end"`, `"id 1234-5 end"`, true},
		{`"id <uuid:1> end"`, `"id 1234-5 END"`, false},
		{`{"d":"date"}`, `{"d":{"any":"value"}}`, true},
		{`"update"`, `"upXXX"`, false},
		{`"arn:x:<ArnPart_0idx>"`, `"arn:x:sm_1"`, true},
		{`null`, `{}`, false},
		{`"1"`, `1`, false},
	}
	for _, tt := range tests {
		d := m.diff("v", "", p(tt.want), p(tt.got))
		if (d == "") != tt.ok {
			t.Errorf("diff(%s, %s) = %q, want ok=%v", tt.want, tt.got, d, tt.ok)
		}
	}
	s := &matcher{skip: skipPaths([]string{"LocalStack skips verification of: $..SdkHttpMetadata, $..output.Cause"}), useSkip: true}
	if d := s.diff("v", "", p(`{"SdkHttpMetadata":1,"x":1}`), p(`{"SdkHttpMetadata":2,"x":1}`)); d != "" {
		t.Errorf("skip path not honoured: %s", d)
	}
	if d := s.diff("v", "", p(`{"Cause":"a"}`), p(`{"Cause":"b"}`)); d == "" {
		t.Error("$..output.Cause skipped outside output")
	}
}
