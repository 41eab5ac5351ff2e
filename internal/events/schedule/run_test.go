package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// The synctest bubble's clock starts at 2000-01-01T00:00:00Z.

// TestFiresOnVirtualClock: rate and cron rules fire exactly at their
// scheduled times, with EventBridge's Scheduled Event or the constant Input.
func TestFiresOnVirtualClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, rec := newMemKV(), newRecorder()
		s := start(t, kv, rec, Config{})
		t0 := time.Now()
		s.rule(t, "every5", "rate(5 minutes)", "f5")
		s.rule(t, "noon", "cron(0 12 * * ? *)", "noon")
		if _, err := s.PutTargets(t.Context(), "noon", []Target{{ID: "t1", ARN: fnARN("noon"), Input: `{"constant":true}`}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(24*time.Hour + time.Minute)
		synctest.Wait()

		got := rec.calls("f5")
		if len(got) != 288 {
			t.Fatalf("rate(5 minutes) over 24 h fired %d times, want 288", len(got))
		}
		for i, c := range got {
			want := t0.Add(time.Duration(i+1) * 5 * time.Minute)
			if !c.at.Equal(want) {
				t.Fatalf("fire %d at %s, want %s", i, c.at, want)
			}
			if c.payload["time"] != want.UTC().Format("2006-01-02T15:04:05Z") {
				t.Fatalf("fire %d: event time %v, want %s", i, c.payload["time"], want)
			}
			if c.req.RequestID != DeliveryID("every5", want, "t1") {
				t.Fatalf("fire %d: request id %s, want the stable delivery id", i, c.req.RequestID)
			}
		}
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(mustJSON(t, got[0].payload), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Version != "0" || ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.AccountID != lambda.Account ||
			ev.Region != "us-east-1" || !slices.Equal(ev.Resources, []string{"arn:aws:events:us-east-1:000000000000:rule/every5"}) ||
			string(ev.Detail) != "{}" || len(ev.ID) != 36 {
			t.Errorf("scheduled event = %+v", ev)
		}
		noon := rec.calls("noon")
		if len(noon) != 1 || !noon[0].at.Equal(time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)) || noon[0].payload["constant"] != true || len(noon[0].payload) != 1 {
			t.Errorf("noon rule: %+v, want one fire at 12:00 with the constant input", noon)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEventShape pins the Scheduled Event byte for byte.
func TestEventShape(t *testing.T) {
	got := string(Event("nightly", time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)))
	want := `{"version":"0","id":"` + stableUUID("arn:aws:events:us-east-1:000000000000:rule/nightly", "2026-03-10T03:00:00Z") +
		`","detail-type":"Scheduled Event","source":"aws.events","account":"000000000000","time":"2026-03-10T03:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:000000000000:rule/nightly"],"detail":{}}`
	if got != want {
		t.Errorf("Event =\n%s\nwant\n%s", got, want)
	}
	if a, b := DeliveryID("r", time.Unix(60, 0), "1"), DeliveryID("r", time.Unix(60, 0), "2"); a == b || a != DeliveryID("r", time.Unix(60, 0).In(time.FixedZone("x", 3600)), "1") {
		t.Errorf("delivery ids must differ per target and not depend on the zone: %s %s", a, b)
	}
}

// TestChangesWakeTheScheduler: the one timer is re-armed when a rule due
// sooner appears, and disabling, enabling and deleting take effect at once.
func TestChangesWakeTheScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := start(t, newMemKV(), rec, Config{})
		s.rule(t, "daily", "cron(0 12 * * ? *)", "daily") // the timer waits for noon
		time.Sleep(10 * time.Minute)
		s.rule(t, "minutely", "rate(1 minute)", "m")
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if got := rec.calls("m"); len(got) != 1 || !got[0].at.Equal(time.Date(2000, 1, 1, 0, 11, 0, 0, time.UTC)) {
			t.Fatalf("new rule fired %v, want once at 00:11", eventTimes(t, got))
		}
		// Disabled at 00:11:30: nothing until enabled again at 00:20:30, no catch-up, then 00:21.
		if err := s.SetState(t.Context(), "minutely", Disabled); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Minute)
		if err := s.SetState(t.Context(), "minutely", Enabled); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := eventTimes(t, rec.calls("m")); !slices.Equal(got, []string{"2000-01-01T00:11:00Z", "2000-01-01T00:21:00Z"}) {
			t.Fatalf("after disable/enable: %v", got)
		}
		// Changing the expression re-anchors it: rate(2 minutes) from 00:21:30 fires at 00:23.
		if _, err := s.PutRule(t.Context(), PutRuleInput{Name: "minutely", ScheduleExpression: "rate(2 minutes)"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if got := eventTimes(t, rec.calls("m")); len(got) != 3 || got[2] != "2000-01-01T00:23:00Z" {
			t.Fatalf("after a new expression: %v", got)
		}
		if err := s.DeleteRule(t.Context(), "minutely"); err == nil || !strings.Contains(err.Error(), "has targets") {
			t.Fatalf("DeleteRule with targets = %v", err)
		}
		if _, err := s.RemoveTargets(t.Context(), "minutely", []string{"t1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRule(t.Context(), "minutely"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(12 * time.Hour)
		synctest.Wait()
		if got := rec.calls("m"); len(got) != 3 {
			t.Errorf("a deleted rule fired: %v", eventTimes(t, got))
		}
		if got := rec.calls("daily"); len(got) != 1 {
			t.Errorf("daily rule fired %d times by 12:23, want 1", len(got))
		}
	})
}

// TestTimeZone: a rule in an IANA zone fires at that zone's wall-clock time,
// and skips a time the clock springs forward over.
func TestTimeZone(t *testing.T) {
	mustLoad(t, "America/New_York")
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := start(t, newMemKV(), rec, Config{})
		for _, r := range []PutRuleInput{
			{Name: "tokyo", ScheduleExpression: "cron(0 9 * * ? *)", Timezone: "Asia/Tokyo"},
			{Name: "ny", ScheduleExpression: "cron(30 2 * * ? *)", Timezone: "America/New_York"},
		} {
			if _, err := s.PutRule(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutTargets(t.Context(), r.Name, []Target{{ID: "1", ARN: fnARN(r.Name)}}); err != nil {
				t.Fatal(err)
			}
		}
		// In 2000, New York sprang forward on Sunday April 2.
		time.Sleep(time.Until(time.Date(2000, 4, 4, 0, 0, 0, 0, time.UTC)))
		synctest.Wait()
		if got := eventTimes(t, rec.calls("tokyo")); got[0] != "2000-01-02T00:00:00Z" {
			t.Errorf("Tokyo 09:00 fired at %v, want midnight UTC", got[0])
		}
		var april []string
		for _, e := range eventTimes(t, rec.calls("ny")) {
			if strings.HasPrefix(e, "2000-04") {
				april = append(april, e)
			}
		}
		if !slices.Equal(april, []string{"2000-04-01T07:30:00Z", "2000-04-03T06:30:00Z"}) {
			t.Errorf("New York 02:30 around spring forward: %v, want April 1 (EST) and 3 (EDT), not 2", april)
		}
	})
}

// TestMissedFires: the documented rule for occurrences missed while the
// server was down — the most recent fires once if it is at most the grace
// old, older ones are skipped.
func TestMissedFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, rec := newMemKV(), newRecorder()
		s := start(t, kv, rec, Config{}) // grace 5 minutes
		s.rule(t, "minutely", "rate(1 minute)", "m")
		s.rule(t, "quarter", "cron(0/15 * * * ? *)", "q")
		s.rule(t, "hourly", "cron(0 * * * ? *)", "h")
		time.Sleep(3*time.Minute + 30*time.Second)
		s.stop() // down at 00:03:30, after 00:01, 00:02, 00:03

		time.Sleep(time.Hour) // back at 01:03:30: 00:04…01:03 were missed
		s = start(t, kv, rec, Config{})
		synctest.Wait()
		restart := time.Now()
		// minutely: only 01:03 (30 s old) fires, at once. quarter: 01:00 is
		// 3.5 min old, fires. hourly: 01:00 fires as well.
		for fn, want := range map[string][]string{
			"m": {"2000-01-01T00:01:00Z", "2000-01-01T00:02:00Z", "2000-01-01T00:03:00Z", "2000-01-01T01:03:00Z"},
			"q": {"2000-01-01T01:00:00Z"},
			"h": {"2000-01-01T01:00:00Z"},
		} {
			calls := rec.calls(fn)
			if got := eventTimes(t, calls); !slices.Equal(got, want) {
				t.Errorf("%s after an hour down: fired %v, want %v", fn, got, want)
				continue
			}
			if last := calls[len(calls)-1]; !last.at.Equal(restart) {
				t.Errorf("%s: the missed fire ran at %s, want at restart %s", fn, last.at, restart)
			}
		}
		time.Sleep(time.Minute)
		s.stop() // down at 01:04:30

		time.Sleep(11 * time.Minute) // back at 01:15:30
		s = start(t, kv, rec, Config{Grace: 30 * time.Second})
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		// With a 30 s grace: 01:15 (30 s old) fires; the hourly rule's next is 02:00.
		if got := eventTimes(t, rec.calls("q")); !slices.Equal(got, []string{"2000-01-01T01:00:00Z", "2000-01-01T01:15:00Z", "2000-01-01T01:30:00Z", "2000-01-01T01:45:00Z"}) {
			t.Errorf("quarter: %v", got)
		}
		if got := eventTimes(t, rec.calls("h")); len(got) != 1 {
			t.Errorf("hourly: %v", got)
		}
		m := eventTimes(t, rec.calls("m"))
		if i := slices.Index(m, "2000-01-01T01:04:00Z"); i < 0 || m[i+1] != "2000-01-01T01:15:00Z" || m[i+2] != "2000-01-01T01:16:00Z" {
			t.Errorf("minutely around the second outage: %v", m)
		}
		s.stop() // down at 01:45:30

		time.Sleep(25 * time.Minute) // back at 02:10:30: 02:00 is older than the grace, skipped
		s = start(t, kv, rec, Config{})
		time.Sleep(50 * time.Minute)
		synctest.Wait()
		if got := eventTimes(t, rec.calls("h")); !slices.Equal(got, []string{"2000-01-01T01:00:00Z", "2000-01-01T03:00:00Z"}) {
			t.Errorf("hourly after the third outage: %v, want 02:00 skipped", got)
		}
		if got := eventTimes(t, rec.calls("q")); !slices.Equal(got[3:], []string{"2000-01-01T01:45:00Z", "2000-01-01T02:15:00Z", "2000-01-01T02:30:00Z", "2000-01-01T02:45:00Z", "2000-01-01T03:00:00Z"}) {
			t.Errorf("quarter after the third outage: %v, want 02:00 skipped", got)
		}
		m = eventTimes(t, rec.calls("m"))
		if i := slices.Index(m, "2000-01-01T01:45:00Z"); i < 0 || m[i+1] != "2000-01-01T02:10:00Z" {
			t.Errorf("minutely after the third outage: %v", m[i:])
		}
	})
}

// TestRestartNeverFiresTwice: a restart right after a fire does not fire it
// again; and a crash between invoking the targets and storing the cursor
// makes the restart re-send the occurrence with the same ids, which the
// async queue drops — so each scheduled time is delivered once.
func TestRestartNeverFiresTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv, rec := newMemKV(), newRecorder()
		s := start(t, kv, rec, Config{})
		s.rule(t, "r", "rate(1 minute)", "f")
		time.Sleep(time.Minute + time.Second)
		s.stop() // 00:01 fired and stored
		s = start(t, kv, rec, Config{})
		synctest.Wait()
		id1 := DeliveryID("r", time.Date(2000, 1, 1, 0, 1, 0, 0, time.UTC), "t1")
		if n := rec.attemptsOf(id1); n != 1 {
			t.Fatalf("a clean restart re-sent 00:01 (%d attempts)", n)
		}

		// The cursor of 00:02 is lost: the server dies after invoking.
		kv.setFailPut(func(key string, _ []byte) error {
			if strings.HasPrefix(key, firedKeys) {
				return errors.New("killed")
			}
			return nil
		})
		time.Sleep(time.Minute)
		synctest.Wait()
		s.stop()
		kv.setFailPut(nil)
		time.Sleep(20 * time.Second) // back at 00:02:21
		s = start(t, kv, rec, Config{})
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		id2 := DeliveryID("r", time.Date(2000, 1, 1, 0, 2, 0, 0, time.UTC), "t1")
		if n := rec.attemptsOf(id2); n != 2 {
			t.Errorf("00:02 was sent %d times, want 2 (the original and the restart's re-send)", n)
		}
		if got := eventTimes(t, rec.calls("f")); !slices.Equal(got, []string{"2000-01-01T00:01:00Z", "2000-01-01T00:02:00Z", "2000-01-01T00:03:00Z", "2000-01-01T00:04:00Z"}) {
			t.Errorf("delivered %v, want each minute once", got)
		}
	})
}

// TestRetriesSystemErrors: a target failing with a system error is retried
// (same id) within the grace; a client error is not retried.
func TestRetriesSystemErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		s := start(t, newMemKV(), rec, Config{})
		s.rule(t, "flaky", "cron(0 * * * ? *)", "flaky")
		s.rule(t, "gone", "cron(0 * * * ? *)", "gone")
		var mu sync.Mutex
		failures := 0
		rec.setFail(func(id string) error {
			mu.Lock()
			defer mu.Unlock()
			switch id {
			case DeliveryID("flaky", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC), "t1"):
				if failures < 3 {
					failures++
					return errors.New("jetstream: timeout")
				}
			case DeliveryID("gone", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC), "t1"):
				return lambda.NotFound("Function not found: %s", fnARN("gone"))
			}
			return nil
		})
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		got := rec.calls("flaky")
		if len(got) != 1 || !got[0].at.Equal(time.Date(2000, 1, 1, 1, 0, 7, 0, time.UTC)) { // after 1 + 2 + 4 s
			t.Errorf("flaky: fired %v; want once, at 01:00:07", eventTimes(t, got))
		}
		if n := rec.attemptsOf(DeliveryID("gone", time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC), "t1")); n != 1 {
			t.Errorf("a missing function was tried %d times, want 1", n)
		}
	})
}

// starter records StartExecution calls.
type starter struct {
	mu    sync.Mutex
	calls [][3]string
}

func (s *starter) StartExecution(_ context.Context, arn, name, input string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, [3]string{arn, name, input})
	return nil
}

// TestStateMachineTargets: refused (as failed entries) until a Starter is
// set, then started with a stable execution name and the event as input.
func TestStateMachineTargets(t *testing.T) {
	const sm = "arn:aws:states:us-east-1:000000000000:stateMachine:flow"
	synctest.Test(t, func(t *testing.T) {
		kv := newMemKV()
		s := start(t, kv, newRecorder(), Config{})
		if _, err := s.PutRule(t.Context(), PutRuleInput{Name: "r", ScheduleExpression: "rate(1 hour)"}); err != nil {
			t.Fatal(err)
		}
		failed, err := s.PutTargets(t.Context(), "r", []Target{{ID: "sm", ARN: sm}})
		if err != nil || len(failed) != 1 || failed[0].TargetID != "sm" || failed[0].ErrorCode != CodeValidation {
			t.Fatalf("PutTargets without a Starter = %+v, %v", failed, err)
		}
		s.stop()

		st := &starter{}
		s2 := New(Config{}, s.log, kv, newRecorder())
		s2.SetStarter(st)
		if err := s2.Open(t.Context()); err != nil {
			t.Fatal(err)
		}
		failed, err = s2.PutTargets(t.Context(), "r", []Target{{ID: "sm", ARN: sm}, {ID: "bad", ARN: "arn:aws:sqs:us-east-1:000000000000:q"}, {ID: "in", ARN: sm, Input: "{nope"}})
		if err != nil || len(failed) != 2 || failed[0].TargetID != "bad" || failed[1].TargetID != "in" {
			t.Fatalf("PutTargets = %+v, %v", failed, err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s2.Run(ctx); close(done) }()
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		<-done
		at := time.Date(2000, 1, 1, 1, 0, 0, 0, time.UTC)
		if len(st.calls) != 1 || st.calls[0] != [3]string{sm, DeliveryID("r", at, "sm"), string(Event("r", at))} {
			t.Errorf("StartExecution calls = %q", st.calls)
		}
	})
}

func TestRuleValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := start(t, newMemKV(), newRecorder(), Config{})
		for _, in := range []PutRuleInput{
			{Name: "bad name", ScheduleExpression: "rate(1 minute)"},
			{Name: "r"},
			{Name: "r", ScheduleExpression: "rate(1 minutes)"},
			{Name: "r", ScheduleExpression: "cron(0 18 * * * *)"},
			{Name: "r", ScheduleExpression: "rate(1 minute)", State: "ON"},
			{Name: "r", ScheduleExpression: "rate(1 minute)", Timezone: "Mars/Olympus"},
			{Name: "r", ScheduleExpression: "rate(1 minute)", Timezone: "Local"},
		} {
			_, err := s.PutRule(t.Context(), in)
			if e, ok := lambda.AsError(err); !ok || e.Code != CodeValidation || e.Status != 400 {
				t.Errorf("PutRule(%+v) = %v, want a ValidationException", in, err)
			}
		}
		if _, err := s.PutRule(t.Context(), PutRuleInput{Name: "r", ScheduleExpression: "rate(1 minute)"}); err != nil {
			t.Fatal(err)
		}
		var many []Target
		for i := range 6 {
			many = append(many, Target{ID: string(rune('a' + i)), ARN: fnARN("f")})
		}
		if _, err := s.PutTargets(t.Context(), "r", many); !isCode(err, CodeLimitExceeded) {
			t.Errorf("six targets: %v", err)
		}
		if _, err := s.PutTargets(t.Context(), "nope", many[:1]); !isCode(err, CodeResourceNotFound) {
			t.Errorf("targets of a missing rule: %v", err)
		}
		if err := s.SetState(t.Context(), "nope", Enabled); !isCode(err, CodeResourceNotFound) {
			t.Errorf("enable a missing rule: %v", err)
		}
		if err := s.DeleteRule(t.Context(), "nope"); err != nil {
			t.Errorf("deleting a missing rule: %v, want success", err)
		}
	})
}

func isCode(err error, code string) bool {
	e, ok := lambda.AsError(err)
	return ok && e.Code == code
}
