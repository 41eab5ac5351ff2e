package executions

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
)

// journal is an execution's engine.Journal: one message per commit on the
// history stream. It also tells callers of SendTask* when their effect is
// durable.
type journal struct {
	s       *Service
	subject string
	// lastSeq is the stream sequence of the execution's last commit; only
	// the execution's Run goroutine (the one calling Commit) uses it.
	lastSeq uint64

	mu      sync.Mutex
	waiters map[string][]chan bool // guarded by mu: task token → callers waiting
	closed  bool                   // guarded by mu
}

// Commit publishes the commit and waits for JetStream's acknowledgement.
// The publish expects the subject's last sequence to be the previous
// commit's, so a second runner of the same execution fails here instead of
// writing a diverging history. Publishes of concurrent executions are in
// flight together, which batches their writes.
func (j *journal) Commit(ctx context.Context, events []engine.Event, snap *engine.Snapshot) error {
	ended := len(events) > 0 && isEnd(events[len(events)-1].Type)
	bp := commitBuffers.Get().(*[]byte)
	body, err := encodeCommit((*bp)[:0], events, snap, ended)
	if err != nil {
		return err
	}
	f, err := j.s.js.PublishMsgAsync(&nats.Msg{Subject: j.subject, Data: body}, jetstream.WithExpectLastSequencePerSubject(j.lastSeq))
	if err != nil {
		return fmt.Errorf("executions: commit: %w", err)
	}
	select {
	case ack := <-f.Ok():
		j.lastSeq = ack.Sequence
	case err := <-f.Err():
		return fmt.Errorf("executions: commit: %w", err)
	case <-ctx.Done():
		return ctx.Err() // the publish may still use body: not recycled
	}
	// Acknowledged: the client no longer holds the message for a retry.
	if cap(body) <= 1<<20 {
		*bp = body
		commitBuffers.Put(bp)
	}
	j.committed(snap, ended)
	return nil
}

// commitBuffers recycles commit bodies (most are a few KB).
var commitBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func isEnd(typ string) bool {
	switch typ {
	case engine.EvExecutionSucceeded, engine.EvExecutionFailed, engine.EvExecutionTimedOut, engine.EvExecutionAborted:
		return true
	}
	return false
}

// wait registers interest in the task holding token: the channel receives
// true once a commit shows the task no longer pending (its completion is
// durable), false if the execution stops first without such a commit.
func (j *journal) wait(token string) chan bool {
	ch := make(chan bool, 1)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		ch <- false
		return ch
	}
	if j.waiters == nil {
		j.waiters = map[string][]chan bool{}
	}
	j.waiters[token] = append(j.waiters[token], ch)
	return ch
}

// unwait drops a registration made by wait.
func (j *journal) unwait(token string, ch chan bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ws := j.waiters[token]
	for i, c := range ws {
		if c == ch {
			j.waiters[token] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(j.waiters[token]) == 0 {
		delete(j.waiters, token)
	}
}

// committed releases the waiters whose task is no longer pending.
func (j *journal) committed(snap *engine.Snapshot, ended bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.waiters) == 0 {
		return
	}
	pending := map[string]bool{}
	if !ended && snap != nil {
		for _, t := range snap.Threads {
			if t.Op != nil && t.Op.Token != "" {
				pending[t.Op.Token] = true
			}
		}
	}
	for tok, ws := range j.waiters {
		if pending[tok] {
			continue
		}
		for _, ch := range ws {
			ch <- true
		}
		delete(j.waiters, tok)
	}
}

// close releases every remaining waiter: the execution stopped.
func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	for tok, ws := range j.waiters {
		for _, ch := range ws {
			ch <- false
		}
		delete(j.waiters, tok)
	}
}
