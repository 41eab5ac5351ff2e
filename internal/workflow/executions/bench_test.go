package executions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
)

// taskChain is n Lambda Task states in a row: every state commits once
// (before its task starts), so n transitions = n durable commits (+1 at the end).
func taskChain(n int) string {
	var b strings.Builder
	b.WriteString(`{"StartAt":"T0","States":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		next := fmt.Sprintf(`"Next":"T%d"`, i+1)
		if i == n-1 {
			next = `"End":true`
		}
		fmt.Fprintf(&b, `"T%d":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:echo","ResultPath":"$.r",%s}`, i, next)
	}
	b.WriteString("}}")
	return b.String()
}

// mixedChain is n groups of Task → Pass → Choice: 3n transitions, with a
// commit only before each Task (Pass and Choice only evaluate).
func mixedChain(n int) string {
	var b strings.Builder
	b.WriteString(`{"StartAt":"T0","States":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		next := fmt.Sprintf(`"T%d"`, i+1)
		if i == n-1 {
			next = `"Done"`
		}
		fmt.Fprintf(&b, `"T%d":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:echo","ResultPath":"$.r","Next":"P%d"},`, i, i)
		fmt.Fprintf(&b, `"P%d":{"Type":"Pass","Parameters":{"order.$":"$.order","step":%d},"Next":"C%d"},`, i, i, i)
		fmt.Fprintf(&b, `"C%d":{"Type":"Choice","Choices":[{"Variable":"$.step","NumericGreaterThanEquals":0,"Next":%s}],"Default":"Done"}`, i, next)
	}
	b.WriteString(`,"Done":{"Type":"Succeed"}}}`)
	return b.String()
}

// runBatch starts k executions and waits for all of them.
func runBatch(b *testing.B, s *Service, sm string, k int) {
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			in := `{"order":{"id":42,"items":[1,2,3]}}`
			e, err := s.Start(context.Background(), StartInput{MachineARN: sm, Input: &in})
			if err != nil {
				b.Error(err)
				return
			}
			if l, ok := s.liveFor(e.ARN); ok {
				<-l.done
				if l.res == nil || l.res.Status != engine.StatusSucceeded {
					b.Errorf("execution %s: %+v", e.ARN, l.res)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDurableTransitions measures committed transitions per second of
// Standard executions on JetStream (file storage), with concurrent
// executions so that their commits are in flight together. Baselines in the
// same run: the bare JetStream publish rate of messages of the same size and
// concurrency, and the same executions without a journal.
func BenchmarkDurableTransitions(b *testing.B) {
	const states = 10
	for _, conc := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("concurrent=%d", conc), func(b *testing.B) {
			fl := newFakeLambda()
			fl.set("echo", echo)
			s := open(b, b.TempDir(), fl)
			sm := createMachine(b, s.Service, "bench", taskChain(states), "")
			transitions := 0
			for b.Loop() {
				runBatch(b, s.Service, sm, conc)
				transitions += conc * states
			}
			b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
		})
	}
}

// BenchmarkDurableMixed is the same with Pass and Choice states between the
// tasks: three transitions per commit.
func BenchmarkDurableMixed(b *testing.B) {
	const groups = 4
	fl := newFakeLambda()
	fl.set("echo", echo)
	s := open(b, b.TempDir(), fl)
	sm := createMachine(b, s.Service, "mixed", mixedChain(groups), "")
	const conc = 16
	transitions := 0
	for b.Loop() {
		runBatch(b, s.Service, sm, conc)
		transitions += conc * (3*groups + 1)
	}
	b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
}

// BenchmarkBaselinePublish is the storage bound: async publishes of
// commit-sized messages (one per "execution" subject, each waiting for its
// ack before the next, conc at a time) on the same kind of stream.
func BenchmarkBaselinePublish(b *testing.B) {
	for _, conc := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("concurrent=%d", conc), func(b *testing.B) {
			s := open(b, b.TempDir(), newFakeLambda())
			body := make([]byte, 1400) // about one commit of the chain above
			for i := range body {
				body[i] = 'x'
			}
			msgs := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for c := range conc {
					wg.Go(func() {
						subj := fmt.Sprintf("sfn.history.bench%d.%d", c, msgs)
						var last uint64
						for range 10 {
							f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: body}, jetstream.WithExpectLastSequencePerSubject(last))
							if err != nil {
								b.Error(err)
								return
							}
							select {
							case ack := <-f.Ok():
								last = ack.Sequence
							case err := <-f.Err():
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				msgs += conc * 10
			}
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkInMemoryTaskChain is the same chain without a journal (the
// engine's own cost), for comparison with BenchmarkDurableTransitions.
func BenchmarkInMemoryTaskChain(b *testing.B) {
	const states = 10
	fl := newFakeLambda()
	fl.set("echo", echo)
	s := open(b, b.TempDir(), fl)
	sm := createMachine(b, s.Service, "benchx", taskChain(states), "EXPRESS")
	transitions := 0
	in := `{"order":{"id":42,"items":[1,2,3]}}`
	for b.Loop() {
		if _, err := s.StartSync(context.Background(), StartInput{MachineARN: sm, Input: &in}); err != nil {
			b.Fatal(err)
		}
		transitions += states
	}
	b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
}

// BenchmarkExpressChoiceLoop measures Pass/Choice transitions of Express
// executions through the service (StartSyncExecution without HTTP).
func BenchmarkExpressChoiceLoop(b *testing.B) {
	const n = 1000
	def := `{"StartAt":"Init","States":{
	    "Init":{"Type":"Pass","Parameters":{"i":0,"n.$":"$.n"},"Next":"Check"},
	    "Check":{"Type":"Choice","Choices":[{"Variable":"$.i","NumericLessThanPath":"$.n","Next":"Inc"}],"Default":"Done"},
	    "Inc":{"Type":"Pass","Parameters":{"i.$":"States.MathAdd($.i, 1)","n.$":"$.n"},"Next":"Check"},
	    "Done":{"Type":"Succeed"}}}`
	s := open(b, b.TempDir(), newFakeLambda())
	sm := createMachine(b, s.Service, "loop", def, "EXPRESS")
	in := fmt.Sprintf(`{"n":%d}`, n)
	transitions := 0
	for b.Loop() {
		e, err := s.StartSync(context.Background(), StartInput{MachineARN: sm, Input: &in})
		if err != nil || e.Status != "SUCCEEDED" {
			b.Fatal(e, err)
		}
		transitions += 2*n + 2
	}
	b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
}
