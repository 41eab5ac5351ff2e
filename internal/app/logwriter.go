package app

import (
	"io"
	"sync"
	"time"
)

// logWriter batches the server's log output: a request's log line (the
// gateway's access log, for one) is appended to a buffer, and the buffer is
// written out every flushEvery, when it passes flushAt bytes, or on Close,
// instead of costing a write system call on the request's path. A crash
// loses at most flushEvery of log lines (a panic's trace goes to the process's
// stderr directly, not through here).
type logWriter struct {
	out  io.Writer
	mu   sync.Mutex
	buf  []byte // guarded by mu
	stop chan struct{}
	done chan struct{}
}

const (
	flushEvery = 50 * time.Millisecond
	flushAt    = 32 << 10
)

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Write keeps a copy of p (slog handlers reuse their buffers).
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	full := len(w.buf) >= flushAt
	w.mu.Unlock()
	if full {
		w.flush()
	}
	return len(p), nil
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.out.Write(w.buf) // nowhere to report a failing log stream
		w.buf = w.buf[:0]
	}
}

func (w *logWriter) run() {
	defer close(w.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.flush()
		case <-w.stop:
			w.flush()
			return
		}
	}
}

// Close writes out what is buffered and stops the flusher.
func (w *logWriter) Close() {
	close(w.stop)
	<-w.done
}
