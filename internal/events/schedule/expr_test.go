package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// AWS's documented examples (EventBridge and Lambda guides) and the dialect's corners.
var validExprs = []string{
	"rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
	"cron(0 12 * * ? *)",
	"cron(15 10 ? * 6L 2002-2005)",
	"cron(0/5 8-17 ? * MON-FRI *)",
	"cron(0 10 ? * 2#3 *)",
	"cron(0 9 L * ? *)",
	"cron(0 9 15W * ? *)",
	"cron(0 10 * * ? *)",
	"cron(15 12 * * ? *)",
	"cron(0 18 ? * MON-FRI *)",
	"cron(0 8 1 * ? *)",
	"cron(0/15 * * * ? *)",
	"cron(0/10 * ? * MON-FRI *)",
	"cron(0 9 ? * 2#1 *)",
	"cron(30 0 1 JAN,APR,JUL,OCT ? *)",
	"cron(0 18 ? * L *)",
	"cron(0 18 ? * SATL *)",
	"cron(0 18 ? * friL *)",
	"cron(0 18 LW * ? *)",
	"cron(0 18 31W * ? *)",
	"cron(1/5 8-17 ? * Mon-Fri *)",
	"cron(0 07/12 ? * * *)",
	"cron(10,20,30,40 07/12 ? * * *)",
	"cron(10 10 31 04,09,12 ? *)",
	"cron(0,5 07/12 ? * 1,5,7 2020-2021,2028-2199)",
	"cron(0 9-5 ? * MON-FRI *)", // a wrapping range
	"cron(30 7 ? * MON#1 *)",
	"cron(0 11-23/2 * * ? *)",
	"cron(0 1-7/2,11-23/2,10 * * ? *)",
	"cron(30 0 1 JAN-APR,JUL-OCT/2,DEC ? *)",
	"cron(0 0 1 1-12/3 ? *)",
	"cron(*/10,*/3 * * * ? *)",
	"cron(0 0 ? * FRI-MON *)",
	"cron(0 0 29 2 ? *)",
	"cron(59 23 31 12 ? 2199)",
}

var invalidExprs = []string{
	"", "rate", "rate()", "rate(5)", "rate(minutes)", "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)",
	"rate(-1 minutes)", "rate(1.5 hours)", "rate(2 weeks)", "rate(1 Minute)", "Rate(1 minute)", "rate(1 minute",
	"rate(99999999999 days)", "rate(50000 days)",
	"cron(0 18 ? * MON-FRI)",      // five fields
	"cron(0 18 * * * *)",          // neither day field is ?
	"cron(0 9 ? * ? *)",           // both are
	"cron(7 20 * * 1-7 *)",        // AWS refuses it too
	"cron(89 10 * * ? *)",         // minute out of range
	"cron(*/60 * * * ? *)",        // step beyond the field
	"cron(65/15 10 * * ? *)",      // start out of range
	"cron(0 65 * * ? *)",          // hour
	"cron(0 001 * * ? *)",         // too many digits
	"cron(0 18 32W * ? *)",        // W day
	"cron(0 18 W * ? *)",          //
	"cron(0 18 3L * ? *)",         // nL is day-of-week only
	"cron(0 18 L-3 * ? *)",        // not in AWS's dialect
	"cron(0 18 0 * ? *)",          // day 0
	"cron(10 10 31 04,09,13 ? *)", // month 13
	"cron(0 9 ? * 2#6 *)",         // week 6
	"cron(0 9 ? * 2#0 *)",         //
	"cron(0 9 ? * 0#2 *)",         //
	"cron(0 9 ? * 8 *)",           // day 8
	"cron(0 9 ? * 01 *)",          // day-of-week takes one digit
	"cron(0 9 ? * MON/2 *)",       // no steps in day-of-week
	"cron(0 9 ? * 3#2,5#3 *)",     // # stands alone
	"cron(0 9 ? * MONDAY *)",      //
	"cron(0 9 ? * 5-L *)",         //
	"cron(0,5 07/12 ? * 1 2000-2200)",
	"cron(15/30 10 * * ? 2400)",
	"cron(0 0 1 * ? 2005-2002)", // years do not wrap
	"cron(0 0 1 * ? 1969)",
	"cron(0 1-7/2,11-23/2, * * ? *)", // empty list item
	"cron(*,5 * * * ? *)",            // * stands alone
	"cron(5/0 * * * ? *)",            // step 0
	"cron(0 0 1 XYZ ? *)",
	"cron(0 0 1 JANUARY ? *)",
	"cron(0 0 ? * 2#3 * *)", // seven fields
	"at(2026-01-01T00:00:00)",
}

func TestParse(t *testing.T) {
	for _, s := range validExprs {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range invalidExprs {
		e, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", s, e)
			continue
		}
		if _, ok := errors.AsType[*SyntaxError](err); !ok {
			t.Errorf("Parse(%q) error %T, want *SyntaxError", s, err)
		}
	}
}

func TestRateUnits(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"rate(1 minute)": time.Minute, "rate(90 minutes)": 90 * time.Minute,
		"rate(1 hour)": time.Hour, "rate(2 hours)": 2 * time.Hour,
		"rate(1 day)": 24 * time.Hour, "rate(3 days)": 72 * time.Hour,
	} {
		e, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Rate(); got != want {
			t.Errorf("Parse(%q).Rate() = %v, want %v", s, got, want)
		}
	}
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	tests := []struct {
		expr string
		zone string
		from string
		want []string // the next occurrences, in order; "" for none
	}{
		{"cron(0 12 * * ? *)", "", "2026-03-10T12:00:00Z", []string{"2026-03-11T12:00:00Z", "2026-03-12T12:00:00Z"}},
		{"cron(0 12 * * ? *)", "", "2026-03-10T11:59:59Z", []string{"2026-03-10T12:00:00Z"}},
		// The last Friday of every month of 2002-2005, then never again.
		{"cron(15 10 ? * 6L 2002-2005)", "", "2001-06-01T00:00:00Z", []string{"2002-01-25T10:15:00Z", "2002-02-22T10:15:00Z"}},
		{"cron(15 10 ? * 6L 2002-2005)", "", "2005-12-01T00:00:00Z", []string{"2005-12-30T10:15:00Z", ""}},
		// Every 5 minutes 8:00-17:55 on weekdays: Friday's last, then Monday's first.
		{"cron(0/5 8-17 ? * MON-FRI *)", "", "2026-03-13T17:50:00Z", []string{"2026-03-13T17:55:00Z", "2026-03-16T08:00:00Z", "2026-03-16T08:05:00Z"}},
		{"cron(0 10 ? * 2#3 *)", "", "2026-03-01T00:00:00Z", []string{"2026-03-16T10:00:00Z", "2026-04-20T10:00:00Z"}},
		{"cron(0 9 ? * 2#1 *)", "", "2026-03-02T09:00:00Z", []string{"2026-04-06T09:00:00Z"}},
		{"cron(0 9 L * ? *)", "", "2026-02-01T00:00:00Z", []string{"2026-02-28T09:00:00Z", "2026-03-31T09:00:00Z", "2026-04-30T09:00:00Z"}},
		{"cron(0 9 L 2 ? *)", "", "2027-03-01T00:00:00Z", []string{"2028-02-29T09:00:00Z"}},
		// 15W: 2026-08-15 is a Saturday (→ Friday 14th), 2026-11-15 a Sunday (→ Monday 16th).
		{"cron(0 9 15W * ? *)", "", "2026-08-01T00:00:00Z", []string{"2026-08-14T09:00:00Z", "2026-09-15T09:00:00Z", "2026-10-15T09:00:00Z", "2026-11-16T09:00:00Z"}},
		// 1W: 2026-08-01 is a Saturday: Monday the 3rd, not July 31st.
		{"cron(0 0 1W * ? *)", "", "2026-07-15T00:00:00Z", []string{"2026-08-03T00:00:00Z"}},
		// 31W: 2026-05-31 is a Sunday: Friday the 29th; months without a 31st do not fire.
		{"cron(0 0 31W * ? *)", "", "2026-04-01T00:00:00Z", []string{"2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z"}},
		// LW: the last weekday; 2026-05-31 is a Sunday.
		{"cron(0 0 LW * ? *)", "", "2026-05-01T00:00:00Z", []string{"2026-05-29T00:00:00Z", "2026-06-30T00:00:00Z"}},
		{"cron(0 0 ? * L *)", "", "2026-03-09T00:00:00Z", []string{"2026-03-14T00:00:00Z", "2026-03-21T00:00:00Z"}}, // Saturdays
		{"cron(0 22-2 * * ? *)", "", "2026-03-09T21:00:00Z", []string{"2026-03-09T22:00:00Z", "2026-03-09T23:00:00Z", "2026-03-10T00:00:00Z", "2026-03-10T01:00:00Z", "2026-03-10T02:00:00Z", "2026-03-10T22:00:00Z"}},
		{"cron(0 0 29 2 ? *)", "", "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"cron(0 0 31 2 ? *)", "", "2026-01-01T00:00:00Z", []string{""}},
		{"cron(59 23 31 12 ? 2199)", "", "2199-12-31T23:59:00Z", []string{""}},
		{"cron(0 0 1 1 ? *)", "", "1900-01-01T00:00:00Z", []string{"1970-01-01T00:00:00Z"}},
		// A time zone: 9:00 in Tokyo is midnight UTC.
		{"cron(0 9 ? * MON-FRI *)", "Asia/Tokyo", "2026-03-13T00:00:00Z", []string{"2026-03-16T00:00:00Z"}},
		// DST, spring forward (New York, 2026-03-08 02:00 → 03:00): 02:30 does not exist that day and is skipped.
		{"cron(30 2 * * ? *)", "America/New_York", "2026-03-07T07:30:00Z", []string{"2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
		{"cron(0/30 * * * ? *)", "America/New_York", "2026-03-08T06:00:00Z", []string{"2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}}, // 01:30 EST, 03:00 EDT, 03:30 EDT
		// DST, fall back (2026-11-01 02:00 EDT → 01:00 EST): 01:30 exists twice and fires once, at its first instant.
		{"cron(30 1 * * ? *)", "America/New_York", "2026-10-31T12:00:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"cron(0/30 * * * ? *)", "America/New_York", "2026-11-01T04:45:00Z", []string{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z"}}, // 01:00 EDT, 01:30 EDT, 02:00 EST
		// From inside the repeated hour (01:10 EST), the next is 02:00 EST.
		{"cron(0/30 * * * ? *)", "America/New_York", "2026-11-01T06:10:00Z", []string{"2026-11-01T07:00:00Z"}},
		// Lord Howe moves its clocks by 30 minutes (2026-04-05 02:00 → 01:30).
		{"cron(45 1 * * ? *)", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", []string{"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		sch := Schedule{Expr: e}
		if tt.zone != "" {
			sch.Location = mustLoad(t, tt.zone)
		}
		at := ts(tt.from)
		for i, w := range tt.want {
			got := sch.Next(at)
			var want time.Time
			if w != "" {
				want = ts(w)
			}
			if !got.Equal(want) {
				t.Errorf("%s in %q: occurrence %d after %s = %s, want %s", tt.expr, tt.zone, i+1, tt.from, got.UTC().Format(time.RFC3339), w)
				break
			}
			at = got
		}
	}
}

func TestRateNext(t *testing.T) {
	e, _ := Parse("rate(5 minutes)")
	anchor := ts("2026-03-10T12:03:00Z")
	sch := Schedule{Expr: e, Anchor: anchor}
	for from, want := range map[string]string{
		"2026-03-10T12:03:00Z": "2026-03-10T12:08:00Z", // k ≥ 1: not the anchor itself
		"2026-03-10T12:07:59Z": "2026-03-10T12:08:00Z",
		"2026-03-10T12:08:00Z": "2026-03-10T12:13:00Z",
		"2026-03-10T11:00:00Z": "2026-03-10T12:08:00Z",
		"2026-03-11T12:03:00Z": "2026-03-11T12:08:00Z",
	} {
		if got := sch.Next(ts(from)); !got.Equal(ts(want)) {
			t.Errorf("rate(5 minutes) from %s: Next(%s) = %s, want %s", anchor, from, got, want)
		}
	}
	// A rate is a fixed duration: rate(1 day) stays 24 h across a DST change.
	day, _ := Parse("rate(1 day)")
	ny := mustLoad(t, "America/New_York")
	sch = Schedule{Expr: day, Location: ny, Anchor: time.Date(2026, 3, 7, 12, 0, 0, 0, ny)}
	if got, want := sch.Next(time.Date(2026, 3, 8, 0, 0, 0, 0, ny)), time.Date(2026, 3, 8, 13, 0, 0, 0, ny); !got.Equal(want) {
		t.Errorf("rate(1 day) across spring forward = %s, want %s", got, want)
	}
}

func TestSyntaxErrorSaysWhy(t *testing.T) {
	_, err := Parse("cron(0 9 ? * 2#6 *)")
	if err == nil || !strings.Contains(err.Error(), "1-5") {
		t.Errorf("Parse error = %v, want one naming the valid weeks", err)
	}
}
