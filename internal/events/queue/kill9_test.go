package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const kill9Env = "NIMBUS_QUEUE_KILL9_DIR"

// TestKill9: a process sends messages and receives a few (visibility 1 h), and
// is killed with SIGKILL while still sending. Every message whose Send
// returned is there after a restart on the same data dir, and the received
// ones are still invisible.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
	cmd.Env = append(os.Environ(), kill9Env+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	inflight := map[string]string{} // id → receipt handle
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	deadline := time.After(60 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	received := false
	for len(sent) < 1000 || !received {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child ended early; sent %d", len(sent))
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "sent":
				sent[f[1]] = true
			case len(f) == 3 && f[0] == "inflight":
				inflight[f[1]] = f[2]
			case len(f) == 1 && f[0] == "received":
				received = true
			}
		case <-deadline:
			t.Fatalf("child too slow: sent %d, in flight %d", len(sent), len(inflight))
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for range lines { // acknowledged after we stopped counting: also required
	}
	cmd.Wait()

	s, _ := start(t, dir)
	got := map[string]bool{}
	for {
		ms, err := s.Receive(t.Context(), "k", ReceiveOptions{Max: 10, Wait: dur(time.Second), Visibility: dur(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if _, ok := inflight[m.ID]; ok {
				t.Errorf("in-flight message %s visible after the restart", m.ID)
			}
			got[m.ID] = true
		}
	}
	for id, h := range inflight {
		if err := s.ChangeVisibility(t.Context(), "k", h, 0); err != nil {
			t.Fatalf("ChangeVisibility(in-flight %s): %v", id, err)
		}
	}
	for back := 0; back < len(inflight); {
		ms, err := s.Receive(t.Context(), "k", ReceiveOptions{Max: 10, Wait: dur(2 * time.Second)})
		if err != nil || len(ms) == 0 {
			t.Fatalf("receiving the formerly in-flight messages: %v", err)
		}
		for _, m := range ms {
			got[m.ID] = true
			back++
		}
	}
	lost := 0
	for id := range sent {
		if !got[id] {
			lost++
			_, infl := inflight[id]
			t.Logf("lost %s (in flight: %v)", id, infl)
		}
	}
	if len(inflight) == 0 {
		t.Fatal("the child received nothing")
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", lost, len(sent))
	}
	t.Logf("%d acknowledged messages and %d in flight survived kill -9", len(sent), len(inflight))
}

// TestKill9Child is the process TestKill9 kills.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(kill9Env)
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	s, _ := start(t, dir)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "k", nil, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Printf(format+"\n", args...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				r, err := s.Send(ctx, "k", SendInput{Body: "payload"})
				if err != nil {
					t.Error(err)
					return
				}
				say("sent %s", r.MessageID)
			}
		})
	}
	// A long poll returns as soon as the senders have stored something,
	// however slowly they start.
	ms, err := s.Receive(ctx, "k", ReceiveOptions{Max: 5, Wait: dur(MaxWaitTime), Visibility: dur(time.Hour)})
	if err != nil {
		t.Error(err)
	}
	// JetStream writes consumer state at most ~10 times a second, from a
	// goroutine of its own: leave it ample time (no event tells when it did).
	time.Sleep(time.Second)
	for _, m := range ms {
		say("inflight %s %s", m.ID, m.ReceiptHandle)
	}
	say("received")
	wg.Wait() // until killed
}
