package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The cron(…) dialect of EventBridge (Quartz-derived), six fields:
//
//	field         values              wildcards
//	Minutes       0-59                , - * /
//	Hours         0-23                , - * /
//	Day-of-month  1-31                , - * ? / L W
//	Month         1-12 or JAN-DEC     , - * /
//	Day-of-week   1-7 or SUN-SAT      , - * ? L #
//	Year          1970-2199           , - * /
//
// Details, as Quartz and AWS's examples have them: names and letters are case
// insensitive; a range may wrap (22-2 in Hours, FRI-MON), except in Year;
// "a/s" means a, a+s, … up to the field's maximum and "*/s" starts at its
// minimum; a step may not exceed the field's maximum (*/60 in Minutes is
// invalid). Day-of-month also takes L (last day), LW (last weekday) and nW
// (the weekday nearest day n, within the month; no fire in months shorter
// than n). Day-of-week also takes L alone (Saturday, the last day of the
// week), nL (the last day n of the month) and n#k (the k-th day n, k 1-5).
// Exactly one of Day-of-month and Day-of-week is "?".

type cron struct {
	minutes, hours, months, years bitset
	dom                           domSpec
	dow                           dowSpec
}

type domSpec struct {
	any         bool // ?
	days        bitset
	last        bool // L
	lastWeekday bool // LW
	nearest     int  // nW; zero if none
}

type dowSpec struct {
	any        bool   // ?
	days       bitset // 1 = Sunday … 7 = Saturday
	last       int    // nL: the last day n of the month; zero if none
	nth, nthOf int    // n#k: nthOf = n, nth = k; zero if none
}

// bitset holds small non-negative integers (< 256).
type bitset [4]uint64

func (b *bitset) add(i int)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset) has(i int) bool { return i >= 0 && i < 256 && b[i>>6]&(1<<(i&63)) != 0 }

type field struct {
	name      string
	min, max  int
	offset    int // subtracted from a value to index the bitset
	maxDigits int
	names     []string // names[i] is value i+1
	slash     bool
}

var (
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

	fMinutes = field{name: "minutes", min: 0, max: 59, maxDigits: 2, slash: true}
	fHours   = field{name: "hours", min: 0, max: 23, maxDigits: 2, slash: true}
	fDOM     = field{name: "day-of-month", min: 1, max: 31, maxDigits: 2, slash: true}
	fMonth   = field{name: "month", min: 1, max: 12, maxDigits: 2, names: monthNames, slash: true}
	fDOW     = field{name: "day-of-week", min: 1, max: 7, maxDigits: 1, names: dayNames}
	fYear    = field{name: "year", min: 1970, max: 2199, offset: 1970, maxDigits: 4, slash: true}
)

func parseCron(s string) (*cron, error) {
	f := strings.Fields(strings.ToUpper(s))
	if len(f) != 6 {
		return nil, fmt.Errorf("cron takes 6 fields (minutes hours day-of-month month day-of-week year), not %d", len(f))
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, errors.New("exactly one of day-of-month and day-of-week must be ?")
	}
	c := &cron{}
	var err error
	if c.minutes, err = fMinutes.parse(f[0]); err != nil {
		return nil, err
	}
	if c.hours, err = fHours.parse(f[1]); err != nil {
		return nil, err
	}
	if c.dom, err = parseDOM(f[2]); err != nil {
		return nil, err
	}
	if c.months, err = fMonth.parse(f[3]); err != nil {
		return nil, err
	}
	if c.dow, err = parseDOW(f[4]); err != nil {
		return nil, err
	}
	if c.years, err = fYear.parse(f[5]); err != nil {
		return nil, err
	}
	return c, nil
}

func parseDOM(s string) (domSpec, error) {
	switch {
	case s == "?":
		return domSpec{any: true}, nil
	case s == "L":
		return domSpec{last: true}, nil
	case s == "LW":
		return domSpec{lastWeekday: true}, nil
	case strings.HasSuffix(s, "W"):
		n, err := fDOM.number(strings.TrimSuffix(s, "W"))
		if err != nil {
			return domSpec{}, err
		}
		return domSpec{nearest: n}, nil
	}
	days, err := fDOM.parse(s)
	return domSpec{days: days}, err
}

func parseDOW(s string) (dowSpec, error) {
	switch {
	case s == "?":
		return dowSpec{any: true}, nil
	case s == "L":
		var d bitset
		d.add(7)
		return dowSpec{days: d}, nil
	case strings.Contains(s, "#"):
		day, k, _ := strings.Cut(s, "#")
		n, err := fDOW.value(day)
		if err != nil {
			return dowSpec{}, err
		}
		if len(k) != 1 || k[0] < '1' || k[0] > '5' {
			return dowSpec{}, fmt.Errorf("day-of-week: %q: the week after # must be 1-5", s)
		}
		return dowSpec{nthOf: n, nth: int(k[0] - '0')}, nil
	case strings.HasSuffix(s, "L"):
		n, err := fDOW.value(strings.TrimSuffix(s, "L"))
		if err != nil {
			return dowSpec{}, err
		}
		return dowSpec{last: n}, nil
	}
	days, err := fDOW.parse(s)
	return dowSpec{days: days}, err
}

// parse reads a list of values, ranges and steps, or "*".
func (f field) parse(s string) (bitset, error) {
	var set bitset
	if s == "*" {
		for v := f.min; v <= f.max; v++ {
			set.add(v - f.offset)
		}
		return set, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		base, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			if !f.slash {
				return set, fmt.Errorf("%s: %q: / is not allowed here", f.name, item)
			}
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max || strings.Trim(stepText, "0123456789") != "" || len(stepText) > 4 {
				return set, fmt.Errorf("%s: %q: the step must be 1-%d", f.name, item, f.max)
			}
			step = n
		}
		var lo, hi int
		var err error
		switch {
		case base == "*":
			if !hasStep {
				return set, fmt.Errorf("%s: * must stand alone", f.name)
			}
			lo, hi = f.min, f.max
		case strings.Contains(base, "-"):
			a, b, _ := strings.Cut(base, "-")
			if lo, err = f.value(a); err != nil {
				return set, err
			}
			if hi, err = f.value(b); err != nil {
				return set, err
			}
			if lo > hi && f.offset != 0 {
				return set, fmt.Errorf("%s: %q: a range may not wrap", f.name, base)
			}
		default:
			if lo, err = f.value(base); err != nil {
				return set, err
			}
			hi = lo
			if hasStep {
				hi = f.max
			}
		}
		size := f.max - f.min + 1
		span := (hi - lo + size) % size // wraps when lo > hi
		for i := 0; i <= span; i += step {
			set.add(f.min + (lo-f.min+i)%size - f.offset)
		}
	}
	return set, nil
}

// value reads one value: a number or, where the field has them, a name.
func (f field) value(s string) (int, error) {
	if f.names != nil && len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		for i, n := range f.names {
			if n == s {
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("%s: unknown name %q", f.name, s)
	}
	return f.number(s)
}

func (f field) number(s string) (int, error) {
	if s == "" || len(s) > f.maxDigits || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%s: %q is not a value %d-%d", f.name, s, f.min, f.max)
	}
	n, _ := strconv.Atoi(s)
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s: %d is out of range %d-%d", f.name, n, f.min, f.max)
	}
	return n, nil
}

// next returns the first occurrence strictly after t with the fields read as
// wall-clock time in loc, or the zero Time.
func (c *cron) next(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	y, mo, d := w.Date()
	h, mi := w.Hour(), w.Minute()
	if y < fYear.min {
		y, mo, d, h, mi = fYear.min, 1, 1, 0, 0
	}
	for ; y <= fYear.max; y, mo, d, h, mi = y+1, 1, 1, 0, 0 {
		if !c.years.has(y - fYear.offset) {
			continue
		}
		for ; mo <= 12; mo, d, h, mi = mo+1, 1, 0, 0 {
			if !c.months.has(int(mo)) {
				continue
			}
			dim := daysIn(y, mo)
			for ; d <= dim; d, h, mi = d+1, 0, 0 {
				if !c.day(y, mo, d, dim) {
					continue
				}
				for ; h < 24; h, mi = h+1, 0 {
					if !c.hours.has(h) {
						continue
					}
					for ; mi < 60; mi++ {
						if !c.minutes.has(mi) {
							continue
						}
						at, ok := firstInstant(y, mo, d, h, mi, loc)
						if ok && at.After(t) {
							return at
						}
					}
				}
			}
		}
	}
	return time.Time{}
}

// firstInstant returns the first instant whose wall clock in loc reads the
// given minute; ok is false if the clock springs forward over it. (time.Date
// alone does not say which of two instants it picks when the clock falls
// back.) Zone transitions are assumed to be more than 12 hours apart.
func firstInstant(y int, mo time.Month, d, h, mi int, loc *time.Location) (at time.Time, ok bool) {
	at = time.Date(y, mo, d, h, mi, 0, 0, loc)
	_, offBefore := at.Add(-12 * time.Hour).Zone()
	_, offAfter := at.Add(12 * time.Hour).Zone()
	if offBefore == offAfter {
		return at, true // no transition near: the wall clock is unambiguous
	}
	wall := time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
	var first time.Time
	for _, off := range []int{offBefore, offAfter} {
		u := wall.Add(-time.Duration(off) * time.Second).In(loc)
		if u.Day() == d && u.Hour() == h && u.Minute() == mi && (first.IsZero() || u.Before(first)) {
			first = u
		}
	}
	return first, !first.IsZero()
}

// day reports whether the date matches the day-of-month and day-of-week fields.
func (c *cron) day(y int, m time.Month, d, dim int) bool {
	if !c.dom.any {
		switch {
		case c.dom.last:
			return d == dim
		case c.dom.lastWeekday:
			return d == nearestWeekday(y, m, dim, dim)
		case c.dom.nearest > 0:
			return c.dom.nearest <= dim && d == nearestWeekday(y, m, c.dom.nearest, dim)
		}
		return c.dom.days.has(d)
	}
	wd := int(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()) + 1 // Sunday = 1
	switch {
	case c.dow.last > 0:
		return wd == c.dow.last && d+7 > dim
	case c.dow.nth > 0:
		return wd == c.dow.nthOf && (d-1)/7+1 == c.dow.nth
	}
	return c.dow.days.has(wd)
}

// nearestWeekday is the weekday nearest day n of the month, never leaving it:
// a Saturday moves to Friday (to Monday the 3rd if n is the 1st), a Sunday to
// Monday (to Friday if n is the last day).
func nearestWeekday(y int, m time.Month, n, dim int) int {
	switch time.Date(y, m, n, 12, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == dim {
			return n - 2
		}
		return n + 1
	}
	return n
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day()
}
