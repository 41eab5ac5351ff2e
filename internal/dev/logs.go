package dev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/deploy"
)

// terminal writes whole lines to the user's terminal from several
// goroutines (the loop, one log follower per function).
type terminal struct {
	mu    sync.Mutex
	w     io.Writer // guarded by mu
	color bool
}

// printf writes one message (a trailing newline is added if missing).
func (t *terminal) printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, s)
}

// palette are the ANSI colours of function prefixes, in order of appearance.
var palette = []int{36, 32, 33, 35, 34, 91, 96, 92, 93, 95}

// paint colours s with ANSI colour c when the terminal takes colours.
func (t *terminal) paint(c int, s string) string {
	if !t.color || c == 0 {
		return s
	}
	return fmt.Sprintf("\x1b[%dm%s\x1b[0m", c, s)
}

// logLine turns one log line into what the terminal shows, or "" to drop it:
// START and END lines are dropped, REPORT lines summarised
// (⏱ duration, memory used/size, cold start's init duration), and the
// timestamp and request id that runtimes put before a message are removed.
func logLine(line string) string {
	switch {
	case line == "", strings.HasPrefix(line, "START RequestId:"), strings.HasPrefix(line, "END RequestId:"):
		return ""
	case strings.HasPrefix(line, "REPORT RequestId:"):
		return report(line)
	}
	// Node and Python's bootstraps: "2026-11-23T07:00:00.000Z\t<request id>\tINFO\tmessage".
	if ts, rest, ok := strings.Cut(line, "\t"); ok {
		if _, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			if _, msg, ok := strings.Cut(rest, "\t"); ok {
				return msg
			}
			return rest
		}
	}
	return line
}

// report summarises a REPORT line: "⏱ 1.2 ms  mem 24/128 MB  (cold 38 ms)".
func report(line string) string {
	fields := map[string]string{}
	for _, f := range strings.Split(line, "\t") {
		if k, v, ok := strings.Cut(f, ": "); ok {
			fields[k] = v
		}
	}
	s := "⏱ " + millis(fields["Duration"]) + "  mem " + strings.TrimSuffix(fields["Max Memory Used"], " MB") + "/" + fields["Memory Size"]
	if init := fields["Init Duration"]; init != "" {
		s += "  (cold " + millis(init) + ")"
	}
	if st := fields["Status"]; st != "" {
		s += "  " + st
		if et := fields["Error Type"]; et != "" {
			s += " " + et
		}
	}
	return s
}

// millis shortens "12.34 ms": one decimal below 10 ms, none above.
func millis(v string) string {
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
	if err != nil {
		return v
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
}

// follow prints function name's log records, from since on, as they are
// written (GET /nimbus/v1/functions/{name}/logs?follow=true), each line
// prefixed with label. It reconnects after a broken stream and returns when
// ctx ends or the function is gone.
func (c *client) follow(ctx context.Context, t *terminal, name, label string, color int, since time.Time) {
	prefix := t.paint(color, label)
	for ctx.Err() == nil {
		q := url.Values{"follow": {"true"}, "since": {since.UTC().Format(time.RFC3339Nano)}}
		resp, err := c.Do(ctx, "GET", "/nimbus/v1/functions/"+url.PathEscape(name)+"/logs?"+q.Encode(), nil, nil)
		if e, ok := errors.AsType[*deploy.APIError](err); ok && e.Status == 404 {
			return // deleted (or never deployed)
		}
		if err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if s := strings.ReplaceAll(logLine(sc.Text()), "\t", " "); s != "" {
					t.printf("%s  %s", prefix, s)
				}
			}
			resp.Body.Close()
		}
		since = time.Now()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// followers runs one follow per function of the stack, and changes the set
// when a deploy changes the stack's functions.
type followers struct {
	c       *client
	t       *terminal
	since   time.Time
	running map[string]context.CancelFunc // by function name
	colors  map[string]int                // by label, stable across deploys
	wg      sync.WaitGroup
}

// function is a function of the stack: its physical name and its label.
type function struct{ name, label string }

// set makes the running followers those of fns (labels padded to one width).
func (f *followers) set(ctx context.Context, fns []function) {
	width := 0
	for _, fn := range fns {
		width = max(width, len(fn.label))
	}
	keep := map[string]bool{}
	for _, fn := range fns {
		keep[fn.name] = true
		if f.running[fn.name] != nil {
			continue
		}
		c, ok := f.colors[fn.label]
		if !ok {
			c = palette[len(f.colors)%len(palette)]
			f.colors[fn.label] = c
		}
		fctx, cancel := context.WithCancel(ctx)
		f.running[fn.name] = cancel
		label := fmt.Sprintf("%-*s", width, fn.label)
		f.wg.Go(func() { f.c.follow(fctx, f.t, fn.name, label, c, f.since) })
	}
	for name, cancel := range f.running {
		if !keep[name] {
			cancel()
			delete(f.running, name)
		}
	}
}

// stop stops every follower and waits for them.
func (f *followers) stop() {
	for _, cancel := range f.running {
		cancel()
	}
	f.wg.Wait()
}
