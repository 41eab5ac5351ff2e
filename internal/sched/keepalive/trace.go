package keepalive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Trace is a day (or any span) of per-minute invocation counts of a set of
// functions, in the format of the Azure Functions 2019 dataset.
type Trace struct {
	Minutes   int // length of every Counts
	Functions []Function
}

// Function is one function's invocation counts.
type Function struct {
	Name   string   // HashFunction
	App    string   // HashApp
	Owner  string   // HashOwner
	Counts []uint32 // invocations in each minute
	// Duration is how long each invocation runs (the trace's average), or 0
	// when the trace gives none.
	Duration time.Duration
}

// Invocations returns the total number of invocations in the trace.
func (tr *Trace) Invocations() int64 {
	var n int64
	for i := range tr.Functions {
		for _, c := range tr.Functions[i].Counts {
			n += int64(c)
		}
	}
	return n
}

// maxCount bounds one minute's count (the busiest Azure function sees a few
// hundred thousand a minute), so a malformed trace cannot ask the replay for
// billions of invocations.
const maxCount = 10_000_000

// ParseInvocations reads an invocations-per-minute CSV:
//
//	HashOwner,HashApp,HashFunction,…,minute_1,…,minute_N   (any order of the
//	three hash columns; the minute columns last and in order)
//
// with one row per function. Function names must be unique.
func ParseInvocations(r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("trace: empty input")
	}
	header := strings.Split(strings.TrimSuffix(sc.Text(), "\r"), ",")
	col := map[string]int{}
	first := -1
	for i, h := range header {
		if strings.HasPrefix(h, "minute_") {
			if first < 0 {
				first = i
			}
			if h != "minute_"+strconv.Itoa(i-first+1) {
				return nil, fmt.Errorf("trace: column %d is %q, want minute_%d", i+1, h, i-first+1)
			}
			continue
		}
		if first >= 0 {
			return nil, fmt.Errorf("trace: column %q after the minute columns", h)
		}
		col[h] = i
	}
	for _, h := range []string{"HashFunction", "HashApp", "HashOwner"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("trace: no %s column", h)
		}
	}
	if first < 0 {
		return nil, errors.New("trace: no minute_1 … minute_N columns")
	}
	tr := &Trace{Minutes: len(header) - first}
	seen := map[string]bool{}
	for line := 2; sc.Scan(); line++ {
		b := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(b) == 0 {
			continue
		}
		fields := strings.Split(string(b), ",")
		if len(fields) != len(header) {
			return nil, fmt.Errorf("trace: line %d has %d fields, want %d", line, len(fields), len(header))
		}
		f := Function{
			Name:   fields[col["HashFunction"]],
			App:    fields[col["HashApp"]],
			Owner:  fields[col["HashOwner"]],
			Counts: make([]uint32, tr.Minutes),
		}
		if f.Name == "" || seen[f.Name] {
			return nil, fmt.Errorf("trace: line %d: empty or repeated function %q", line, f.Name)
		}
		seen[f.Name] = true
		for i, s := range fields[first:] {
			c, err := strconv.ParseUint(s, 10, 32)
			if err != nil || c > maxCount {
				return nil, fmt.Errorf("trace: line %d: minute_%d: bad count %q", line, i+1, s)
			}
			f.Counts[i] = uint32(c)
		}
		tr.Functions = append(tr.Functions, f)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return tr, nil
}

// ParseDurations reads an execution-time CSV (HashOwner, HashApp, HashFunction,
// Average in ms, other columns ignored) and sets the Duration of every
// function of tr it names. It returns how many functions got one.
func ParseDurations(tr *Trace, r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("durations: empty input")
	}
	col := map[string]int{}
	header := strings.Split(strings.TrimSuffix(sc.Text(), "\r"), ",")
	for i, h := range header {
		col[h] = i
	}
	for _, h := range []string{"HashFunction", "HashApp", "HashOwner", "Average"} {
		if _, ok := col[h]; !ok {
			return 0, fmt.Errorf("durations: no %s column", h)
		}
	}
	byName := make(map[string]*Function, len(tr.Functions))
	for i := range tr.Functions {
		byName[tr.Functions[i].Name] = &tr.Functions[i]
	}
	n := 0
	for line := 2; sc.Scan(); line++ {
		fields := strings.Split(strings.TrimSuffix(sc.Text(), "\r"), ",")
		if len(fields) == 1 && fields[0] == "" {
			continue
		}
		if len(fields) != len(header) {
			return n, fmt.Errorf("durations: line %d has %d fields, want %d", line, len(fields), len(header))
		}
		f := byName[fields[col["HashFunction"]]]
		if f == nil || f.App != fields[col["HashApp"]] || f.Owner != fields[col["HashOwner"]] {
			continue
		}
		ms, err := strconv.ParseFloat(fields[col["Average"]], 64)
		if err != nil || !(ms >= 0 && ms <= 24*3600*1000) {
			return n, fmt.Errorf("durations: line %d: bad Average %q", line, fields[col["Average"]])
		}
		if f.Duration == 0 {
			n++
		}
		f.Duration = time.Duration(ms * float64(time.Millisecond))
	}
	return n, sc.Err()
}
