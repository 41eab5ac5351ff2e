package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
)

// loopDefinition counts to n with a Pass (MathAdd) and a Choice per
// iteration: 2n+1 transitions.
func loopDefinition(tb testing.TB) *asl.Definition {
	def := `{
	  "StartAt": "Init",
	  "States": {
	    "Init": {"Type": "Pass", "Parameters": {"i": 0, "n.$": "$.n"}, "Next": "Check"},
	    "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Inc"}], "Default": "Done"},
	    "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n"}, "Next": "Check"},
	    "Done": {"Type": "Succeed"}
	  }
	}`
	d, err := asl.Parse([]byte(def), asl.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// chainDefinition is n Pass states in a row with a small object flowing through.
func chainDefinition(tb testing.TB, n int) *asl.Definition {
	var b strings.Builder
	b.WriteString(`{"StartAt": "S0", "States": {`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		if i == n-1 {
			fmt.Fprintf(&b, `"S%d": {"Type": "Pass", "ResultPath": "$.last", "Result": %d, "End": true}`, i, i)
		} else {
			fmt.Fprintf(&b, `"S%d": {"Type": "Pass", "ResultPath": "$.last", "Result": %d, "Next": "S%d"}`, i, i, i+1)
		}
	}
	b.WriteString("}}")
	d, err := asl.Parse([]byte(b.String()), asl.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func runOnce(tb testing.TB, def *asl.Definition, input string, discard bool) *Result {
	x, err := New(Config{Definition: def, ExecutionARN: "arn:aws:states:us-east-1:111111111111:express:sm:e:1", Type: asl.Express,
		Input: []byte(input), DiscardEvents: discard}, nil, SystemClock{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := x.Run(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if r.Status != StatusSucceeded {
		tb.Fatalf("status %s %s %s", r.Status, r.Error, r.Cause)
	}
	return r
}

// BenchmarkChoiceLoop measures Pass/Choice transitions in memory, with the
// in-memory history kept (Standard-like) and discarded (Express).
func BenchmarkChoiceLoop(b *testing.B) {
	const n = 1000
	def := loopDefinition(b)
	for _, discard := range []bool{false, true} {
		b.Run(fmt.Sprintf("discardEvents=%v", discard), func(b *testing.B) {
			transitions := 0
			for b.Loop() {
				runOnce(b, def, `{"n": 1000}`, discard)
				transitions += 2*n + 2
			}
			b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
		})
	}
}

// BenchmarkPassChain measures a chain of Pass states with ResultPath.
func BenchmarkPassChain(b *testing.B) {
	const n = 500
	def := chainDefinition(b, n)
	transitions := 0
	for b.Loop() {
		runOnce(b, def, `{"customer": {"id": 42, "name": "Ada"}, "items": [1, 2, 3]}`, true)
		transitions += n
	}
	b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
}
