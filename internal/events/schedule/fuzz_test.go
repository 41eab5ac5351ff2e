package schedule

import (
	"testing"
	"time"
)

// FuzzParse: Parse never panics; an accepted expression yields strictly
// increasing whole-minute occurrences (in UTC and in a zone with DST), and in
// UTC each is the first matching minute after the previous one.
func FuzzParse(f *testing.F) {
	for _, s := range validExprs {
		f.Add(s, int64(1773000000))
	}
	for _, s := range invalidExprs {
		f.Add(s, int64(0))
	}
	f.Add("cron(0/7 1-23/5 ? 1,3,5-8 MON#2 2027-2030)", int64(1800000000))
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	f.Fuzz(func(t *testing.T, s string, from int64) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		if e.String() != s {
			t.Fatalf("String() = %q, want %q", e.String(), s)
		}
		start := time.Unix(from%(1<<33), 0).UTC() // within 1697-2242
		for _, loc := range []*time.Location{time.UTC, ny} {
			sch := Schedule{Expr: e, Location: loc, Anchor: start.Truncate(time.Minute).Add(-time.Hour)}
			prev := start
			for i := range 20 {
				next := sch.Next(prev)
				if next.IsZero() {
					break
				}
				if !next.After(prev) {
					t.Fatalf("%s in %s: occurrence %d %s is not after %s", s, loc, i, next, prev)
				}
				if next.Second() != 0 || next.Nanosecond() != 0 {
					t.Fatalf("%s: occurrence %s is not a whole minute", s, next)
				}
				if e.cron != nil && loc == time.UTC && i == 0 && next.Sub(prev) < 3*24*time.Hour {
					for m := prev.Truncate(time.Minute).Add(time.Minute); m.Before(next); m = m.Add(time.Minute) {
						if e.cron.matches(m) {
							t.Fatalf("%s: Next(%s) = %s, but %s matches", s, prev, next, m)
						}
					}
					if !e.cron.matches(next) {
						t.Fatalf("%s: Next(%s) = %s does not match", s, prev, next)
					}
				}
				prev = next
			}
		}
	})
}

// matches is the naive reading of the fields for a UTC minute.
func (c *cron) matches(t time.Time) bool {
	y, m, d := t.Date()
	return c.years.has(y-fYear.offset) && c.months.has(int(m)) && c.day(y, m, d, daysIn(y, m)) &&
		c.hours.has(t.Hour()) && c.minutes.has(t.Minute())
}
