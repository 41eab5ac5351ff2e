package executions

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
)

// TestRepairEndedRecord: an execution that ended (final commit written)
// before its record said so — a crash between the two writes — is reported
// correctly after a restart and not run again.
func TestRepairEndedRecord(t *testing.T) {
	dir := t.TempDir()
	fl := newFakeLambda()
	fl.set("echo", echo)
	s := open(t, dir, fl)
	sm := createMachine(t, s.Service, "fin", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:echo","End":true}}}`, "")
	e := start(t, s.Service, sm, "done", `{"v":1}`)
	waitStatus(t, s.Service, e.ARN)
	rec, _, err := s.st.execution(context.Background(), key("fin", "done"))
	if err != nil {
		t.Fatal(err)
	}
	// A stale stop no repair produces: an hour before the start.
	rec.Status, rec.Output, rec.Stop = engine.StatusRunning, nil, rec.Start.Add(-time.Hour)
	if err := s.saveRecord(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	s.close()

	fl2 := newFakeLambda()
	fl2.set("echo", echo)
	s2 := open(t, dir, fl2)
	got, err := s2.Describe(context.Background(), e.ARN)
	if err != nil || got.Status != "SUCCEEDED" || str(got.Output) != `{"v":1}` {
		t.Fatalf("%+v %v", got, err)
	}
	// The repaired stop comes from the final event, whose timestamp has
	// millisecond precision: a quick execution may stop within its start's
	// millisecond, so compare at that precision.
	if got.Stop.Before(got.Start.Truncate(time.Millisecond)) {
		t.Fatalf("stop %v, start %v: want the final event's time", got.Stop, got.Start)
	}
	if n := fl2.count("echo"); n != 0 {
		t.Errorf("the ended execution ran again (%d invocations)", n)
	}
}

// TestResumeNeverCommitted: an execution acknowledged (record written) but
// stopped before its first commit starts from the beginning at restart.
func TestResumeNeverCommitted(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newFakeLambda())
	sm := createMachine(t, s.Service, "fresh", passDef, "")
	m, _, _ := s.resolveMachine(context.Background(), sm)
	in := `{"x":1}`
	rec := s.newRecord(m, nil, StartInput{Name: "pending", Input: &in}, in)
	b, _ := json.Marshal(rec)
	if _, err := s.st.execs.Create(context.Background(), rec.key(), b); err != nil {
		t.Fatal(err)
	}
	s.close()
	s2 := open(t, dir, newFakeLambda())
	got := waitStatus(t, s2.Service, rec.ARN)
	if got.Status != "SUCCEEDED" || str(got.Output) != `{"Arg1":"argument1"}` {
		t.Fatalf("%+v", got)
	}
}

// TestSecondRunnerCannotCommit: two runners of one execution cannot both
// commit past the same point (the stream's expected-sequence check).
func TestSecondRunnerCannotCommit(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	ctx := context.Background()
	ev := []engine.Event{{ID: 1, Type: engine.EvExecutionStarted}}
	a := &journal{s: s.Service, subject: historySubject + "dup"}
	b := &journal{s: s.Service, subject: historySubject + "dup"}
	if err := a.Commit(ctx, ev, &engine.Snapshot{Version: engine.SnapshotVersion}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, ev, &engine.Snapshot{Version: engine.SnapshotVersion}); err == nil {
		t.Fatal("a second runner committed over the first")
	}
	if err := a.Commit(ctx, ev, &engine.Snapshot{Version: engine.SnapshotVersion}); err != nil {
		t.Fatalf("the first runner can no longer commit: %v", err)
	}
}
