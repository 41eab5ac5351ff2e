package app

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	var out lockedBuf
	w := newLogWriter(&out)
	line := []byte("0123456789\n")
	var want strings.Builder
	for range 10_000 { // passes flushAt several times
		w.Write(line)
		line[0] = 'x' // the writer must have copied it
		want.WriteString("0123456789\n")
		line[0] = '0'
	}
	w.Close()
	if got := out.b.String(); got != want.String() {
		t.Fatalf("got %d bytes, want %d", len(got), want.Len())
	}
}
