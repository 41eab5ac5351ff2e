package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expression is a parsed schedule expression, rate(…) or cron(…). It is
// immutable and safe for concurrent use.
type Expression struct {
	text  string
	every time.Duration // rate(…); zero for cron
	cron  *cron
}

// SyntaxError says why an expression was refused. The EventBridge API does not
// show Reason to clients (AWS answers "Parameter ScheduleExpression is not
// valid."); it is for logs, tests and the Go API.
type SyntaxError struct {
	Expr   string
	Reason string
}

func (e *SyntaxError) Error() string {
	return "schedule expression " + strconv.Quote(e.Expr) + ": " + e.Reason
}

// MaxRate bounds rate(…): longer periods are refused rather than overflow.
const MaxRate = 100 * 365 * 24 * time.Hour

// Parse parses an AWS schedule expression:
//
//	rate(1 minute) | rate(N minutes) | rate(1 hour) | rate(N hours) | rate(1 day) | rate(N days)
//	cron(Minutes Hours Day-of-month Month Day-of-week Year)
//
// As AWS enforces, a rate of 1 takes the singular unit and any other the
// plural, and exactly one of Day-of-month and Day-of-week is "?". The cron
// fields accept what EventBridge's documentation lists (see cron.go).
func Parse(s string) (*Expression, error) {
	bad := func(format string, args ...any) (*Expression, error) {
		return nil, &SyntaxError{Expr: s, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.HasPrefix(s, "rate(") && strings.HasSuffix(s, ")"):
		f := strings.Fields(s[len("rate(") : len(s)-1])
		if len(f) != 2 {
			return bad("rate takes a value and a unit")
		}
		if f[0] == "" || strings.Trim(f[0], "0123456789") != "" || len(f[0]) > 10 {
			return bad("rate value %q is not a positive integer", f[0])
		}
		n, _ := strconv.Atoi(f[0])
		if n <= 0 {
			return bad("rate value must be positive")
		}
		unit, plural := strings.CutSuffix(f[1], "s")
		var d time.Duration
		switch unit {
		case "minute":
			d = time.Minute
		case "hour":
			d = time.Hour
		case "day":
			d = 24 * time.Hour
		default:
			return bad("unknown rate unit %q (minute, minutes, hour, hours, day, days)", f[1])
		}
		if plural != (n != 1) {
			if n == 1 {
				return bad("a rate of 1 takes the singular unit %q", unit)
			}
			return bad("a rate of %d takes the plural unit %q", n, unit+"s")
		}
		if time.Duration(n) > MaxRate/d {
			return bad("rate is longer than 100 years")
		}
		return &Expression{text: s, every: time.Duration(n) * d}, nil
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		c, err := parseCron(s[len("cron(") : len(s)-1])
		if err != nil {
			return bad("%s", err)
		}
		return &Expression{text: s, cron: c}, nil
	}
	return bad("not rate(…) or cron(…)")
}

// String returns the expression as written.
func (e *Expression) String() string { return e.text }

// Rate returns the period of a rate(…) expression, zero for cron(…).
func (e *Expression) Rate() time.Duration { return e.every }

// Schedule is an expression placed in time: cron fields are wall-clock times
// in Location, rate occurrences are counted from Anchor.
type Schedule struct {
	Expr *Expression
	// Location is where cron(…) fields are read; nil means UTC (EventBridge
	// rules). A rate is a fixed duration whatever the zone: rate(1 day) is 24 h
	// also across a daylight-saving change, as EventBridge Scheduler does it.
	Location *time.Location
	// Anchor is when a rate schedule starts: its occurrences are
	// Anchor + k·rate for k ≥ 1. The zero Time means the Unix epoch.
	Anchor time.Time
}

// Next returns the first occurrence strictly after t, or the zero Time if
// there is none (a cron expression whose years are over).
//
// Daylight-saving time, as EventBridge Scheduler documents it: a cron
// wall-clock time that does not exist (the clock springs forward over it) is
// skipped; one that exists twice (the clock falls back) fires once, at its
// first instant.
func (s Schedule) Next(t time.Time) time.Time {
	if s.Expr.cron != nil {
		loc := s.Location
		if loc == nil {
			loc = time.UTC
		}
		return s.Expr.cron.next(t, loc)
	}
	anchor := s.Anchor
	if anchor.IsZero() {
		anchor = time.Unix(0, 0).UTC()
	}
	if t.Before(anchor) {
		return anchor.Add(s.Expr.every)
	}
	k := t.Sub(anchor)/s.Expr.every + 1 // Sub saturates ~292 years after the anchor
	if next := anchor.Add(k * s.Expr.every); next.After(t) {
		return next
	}
	return time.Time{}
}
