package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
)

// FuzzExecute runs arbitrary valid definitions on arbitrary input: the
// engine must end every execution (with a bounded history) without panics.
func FuzzExecute(f *testing.F) {
	seeds := []string{
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.ArrayRange(0, 3, 1)"},"Next":"M"},"M":{"Type":"Map","ItemsPath":"$.x","MaxConcurrency":2,"ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}},"End":true}}}`,
		`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericLessThan":3,"Next":"I"}],"Default":"D"},"I":{"Type":"Pass","Parameters":{"a.$":"States.MathAdd($.a, 1)"},"Next":"C"},"D":{"Type":"Succeed"}}}`,
		`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":2}],"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.e","Next":"F"}],"End":true},"F":{"Type":"Fail","ErrorPath":"$.e.Error"}}}`,
		`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Fail","Error":"E"}}},{"StartAt":"Y","States":{"Y":{"Type":"Pass","End":true}}}],"Catch":[{"ErrorEquals":["E"],"Next":"Z"}],"End":true},"Z":{"Type":"Pass","End":true}}}`,
	}
	for _, s := range seeds {
		f.Add(s, `{"a":1,"x":[1,2]}`, byte(0))
	}
	f.Fuzz(func(t *testing.T, src, input string, mode byte) {
		if strings.Contains(src, "DISTRIBUTED") {
			return // child executions have histories (and limits) of their own
		}
		def, err := asl.Parse([]byte(src), asl.Options{})
		if err != nil {
			return
		}
		d := *def
		d.TimeoutSeconds = 3600
		synctest.Test(t, func(t *testing.T) {
			tasks := runnerFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
				switch mode % 3 {
				case 0:
					return req.Input, nil
				case 1:
					return nil, &TaskError{Name: "Boom", Cause: "fuzz"}
				}
				<-ctx.Done()
				return nil, ctx.Err()
			})
			cfg := config(&d, input)
			cfg.MaxEvents = 500
			x, err := New(cfg, tasks, SystemClock{}, nil)
			if err != nil {
				return
			}
			r, err := x.Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == StatusRunning || len(x.Events()) > 520 {
				t.Fatalf("result %+v with %d events", r, len(x.Events()))
			}
		})
	})
}
