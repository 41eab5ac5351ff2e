package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReceiveOptions shape one receive.
type ReceiveOptions struct {
	// Max is the most messages to return, 1–10; 0 means 1.
	Max int
	// Wait is how long to wait for a first message (long polling, 0–20 s); nil
	// means the queue's ReceiveMessageWaitTimeSeconds.
	Wait *time.Duration
	// Visibility is how long the received messages stay invisible (0–12 h); nil
	// means the queue's VisibilityTimeout.
	Visibility *time.Duration
}

const (
	// settleTimeout bounds waiting for JetStream to confirm an ack or nak. It only
	// expires when the server does not know the delivery (e.g. its consumer state
	// was rolled back by a crash); the ack was sent, so that is not an error.
	settleTimeout = 2 * time.Second
	// pullGrace is how much longer than a pull request's expiry we wait for its end.
	pullGrace = 2 * time.Second
)

var (
	ackPayload = []byte("+ACK")
	nakPayload = []byte("-NAK")
)

// Receive returns up to o.Max messages, waiting up to o.Wait for the first one:
// it returns as soon as at least one is available (a send wakes it; there is no
// polling), or with none when the wait ends or the context is cancelled. Each
// message stays invisible to other receives for the visibility timeout, until
// deleted, or until its visibility is changed. A message received more often
// than the queue's RedrivePolicy allows is moved to its dead-letter queue instead.
func (s *Service) Receive(ctx context.Context, name string, o ReceiveOptions) ([]Message, error) {
	q, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	st := q.state.Load()
	n := o.Max
	if n == 0 {
		n = 1
	}
	if n < 1 || n > MaxBatch {
		return nil, errInvalidParam("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
	}
	wait := st.set.wait
	if o.Wait != nil {
		if wait = *o.Wait; wait < 0 || wait > MaxWaitTime {
			return nil, errInvalidParam("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", int64(wait/time.Second))
		}
	}
	vis := st.set.visibility
	if o.Visibility != nil {
		if vis = *o.Visibility; vis < 0 || vis > MaxVisibilityTimeout {
			return nil, errInvalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", int64(vis/time.Second))
		}
	}
	if s.pollCtx.Err() != nil {
		wait = 0
	}
	deadline := time.Now().Add(wait)
	var out []Message
	for {
		// One request that returns as soon as any messages are there, up to n.
		// Even a short poll waits a moment: JetStream learns of new messages
		// asynchronously, so one sent just before would otherwise be missed.
		left := time.Until(deadline)
		msgs, busy, err := s.pull(ctx, q, n-len(out), max(left, shortPoll), true)
		out = s.accept(ctx, q, st, msgs, vis, out)
		if err == nil && busy && len(out) == 0 && left > time.Millisecond {
			// Other receives are waiting for the messages there are: wait for
			// one of our own, then take what else has arrived.
			msgs, _, err = s.pull(ctx, q, 1, left, false)
			if out = s.accept(ctx, q, st, msgs, vis, out); err == nil && len(out) > 0 && len(out) < n {
				msgs, _, err = s.pull(ctx, q, n-len(out), 0, true)
				out = s.accept(ctx, q, st, msgs, vis, out)
			}
		}
		switch {
		case ctx.Err() != nil:
			// Nobody will see these: make them visible again.
			for i := range out {
				if r, ok := parseReceipt(out[i].ReceiptHandle, q); ok {
					s.settle(ctx, r.subject, nakPayload, false)
				}
			}
			return nil, ctx.Err()
		case len(out) > 0:
			return out, nil
		case err != nil:
			return nil, err
		case time.Until(deadline) <= time.Millisecond || s.pollCtx.Err() != nil:
			return nil, nil
		}
	}
}

// shortPoll is how long a receive without long polling waits for messages
// JetStream has stored but not yet counted.
const shortPoll = 30 * time.Millisecond

// pull sends one pull request for up to n messages to the queue's consumer and
// collects what it delivers. With noWait the request ends as soon as some
// messages were delivered, or after expires if none came (0: at once);
// otherwise it ends when n were delivered or after expires. busy reports that
// JetStream refused a noWait request because other waiting requests claim the
// pending messages. Messages delivered to a pull whose caller has gone away are
// made visible again.
func (s *Service) pull(ctx context.Context, q *queue, n int, expires time.Duration, noWait bool) (msgs []*nats.Msg, busy bool, err error) {
	inbox := nats.NewInbox()
	// A small channel: the server sends at most n messages and a status. (A
	// synchronous subscription would allocate room for 64k.)
	ch := make(chan *nats.Msg, n+4)
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, false, fmt.Errorf("queue: subscribe: %w", err)
	}
	// Unsubscribing withdraws the request: the server drops pull requests
	// nobody listens to.
	defer sub.Unsubscribe()
	req := make([]byte, 0, 64)
	req = append(req, `{"batch":`...)
	req = strconv.AppendInt(req, int64(n), 10)
	if expires > 0 {
		req = append(req, `,"expires":`...)
		req = strconv.AppendInt(req, expires.Nanoseconds(), 10)
	}
	if noWait {
		req = append(req, `,"no_wait":true`...)
	}
	req = append(req, '}')
	if err := s.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+q.stream+"."+consumerName, inbox, req); err != nil {
		return nil, false, fmt.Errorf("queue: pull: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, expires+pullGrace)
	defer cancel()
	if expires > shortPoll {
		defer context.AfterFunc(s.pollCtx, cancel)()
	}
	for len(msgs) < n {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-pctx.Done():
			if ctx.Err() != nil {
				s.release(msgs)
				return nil, false, ctx.Err()
			}
			return msgs, false, nil // expired, or polling stopped
		}
		if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 {
			switch status {
			case "100": // heartbeat
				continue
			case "404": // no (more) messages
			case "408": // expired, or "Requests Pending"
				busy = strings.Contains(m.Header.Get("Description"), "Pending")
			case "409":
				if strings.Contains(m.Header.Get("Description"), "Deleted") {
					return msgs, false, errNoQueue()
				}
				// Too many waiting requests and the like: do not spin.
				s.log.Warn("queue pull refused", "queue", q.name, "reason", m.Header.Get("Description"))
				select {
				case <-pctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			return msgs, busy, nil
		}
		msgs = append(msgs, m)
	}
	return msgs, false, nil
}

// release makes delivered messages visible again.
func (s *Service) release(msgs []*nats.Msg) {
	for _, m := range msgs {
		s.nc.Publish(m.Reply, nakPayload)
	}
}

// accept turns delivered messages into received ones, appending them to out.
// Messages past their retention are dropped, and messages received too often
// are moved to the dead-letter queue.
func (s *Service) accept(ctx context.Context, q *queue, st *qstate, msgs []*nats.Msg, vis time.Duration, out []Message) []Message {
	if len(msgs) == 0 {
		return out
	}
	now := time.Now()
	nowMS := now.UnixMilli()
	type seen struct {
		sseq      uint64
		delivered uint64
		idx       int
	}
	var got []seen
	var gone []uint64
	for _, m := range msgs {
		a, ok := parseAck(m.Reply)
		if !ok {
			continue
		}
		h := m.Header
		sent, _ := strconv.ParseInt(h.Get(hdrSent), 10, 64)
		carried, _ := strconv.Atoi(h.Get(hdrReceives))
		count := int(a.delivered) + carried
		if sent > 0 && nowMS-sent > st.set.retention.Milliseconds() {
			// Kept by a dead-letter queue past its original enqueue time plus retention.
			s.settle(ctx, m.Reply, ackPayload, false)
			gone = append(gone, a.sseq)
			continue
		}
		if rp := st.set.redrive; rp != nil && count > rp.maxReceiveCount {
			err := s.deadLetter(ctx, q, rp.target, m, a.sseq, count-1)
			if err == nil {
				gone = append(gone, a.sseq)
				continue
			}
			s.log.Warn("queue: dead-lettering failed; delivering", "queue", q.name, "target", rp.target, "err", err)
		}
		msg, err := decode(m, sent, count)
		if err != nil {
			s.log.Error("queue: dropping undecodable message", "queue", q.name, "seq", a.sseq, "err", err)
			s.settle(ctx, m.Reply, ackPayload, false)
			gone = append(gone, a.sseq)
			continue
		}
		if vis != st.set.visibility || vis == 0 {
			s.nc.Publish(m.Reply, nak(vis))
		}
		msg.ReceiptHandle = makeReceipt(q.id, now, m.Reply)
		got = append(got, seen{a.sseq, a.delivered, len(out)})
		out = append(out, msg)
	}
	deadline := nowMS + vis.Milliseconds()
	q.mu.Lock()
	for _, g := range got {
		first := nowMS
		if f, ok := q.flights[g.sseq]; ok && g.delivered > 1 {
			first = f.first
		}
		q.flights[g.sseq] = flight{delivered: g.delivered, deadline: deadline, first: first}
		out[g.idx].FirstReceive = time.UnixMilli(first)
	}
	for _, seq := range gone {
		delete(q.flights, seq)
	}
	q.mu.Unlock()
	return out
}

// decode reads a stored message.
func decode(m *nats.Msg, sent int64, count int) (Message, error) {
	h := m.Header
	n := 0
	if v := h.Get(hdrAttrs); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 || n > len(m.Data) {
			return Message{}, errCorrupt
		}
	}
	attrs, err := decodeAttributes(m.Data[:n])
	if err != nil {
		return Message{}, err
	}
	body := m.Data[n:]
	msg := Message{
		ID:             h.Get(hdrID),
		Body:           string(body),
		MD5OfBody:      md5Hex(body),
		Attributes:     attrs,
		SenderID:       h.Get(hdrSender),
		SentTimestamp:  time.UnixMilli(sent),
		ReceiveCount:   count,
		TraceHeader:    h.Get(hdrTrace),
		GroupID:        h.Get(hdrGroup),
		DeadLetterFrom: h.Get(hdrDLQSource),
	}
	if n > 0 {
		msg.MD5OfAttributes = md5Hex(m.Data[:n])
	}
	return msg, nil
}

// deadLetter moves a delivered message to the queue named target, keeping its id,
// attributes, sent time and receive count (receives).
func (s *Service) deadLetter(ctx context.Context, q *queue, target string, m *nats.Msg, sseq uint64, receives int) error {
	dq, err := s.lookup(target)
	if err != nil {
		return err
	}
	nm := &nats.Msg{Subject: dq.subject, Header: nats.Header{}, Data: m.Data}
	for k, v := range m.Header {
		if strings.HasPrefix(k, "Sqs-") {
			nm.Header[k] = v
		}
	}
	nm.Header[hdrDLQSource] = []string{q.arn}
	nm.Header[hdrReceives] = []string{strconv.Itoa(receives)}
	// The move must finish even if the receiver goes away.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// The id makes a move repeated after a crash (before the ack) a duplicate
	// JetStream drops, within its duplicate window.
	id := q.stream + ":" + strconv.FormatUint(q.id, 16) + ":" + strconv.FormatUint(sseq, 10)
	if _, err := s.js.PublishMsg(wctx, nm, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return s.settle(wctx, m.Reply, ackPayload, true)
}

// nak is the nak that makes a delivered message visible after d.
func nak(d time.Duration) []byte {
	if d <= 0 {
		return nakPayload
	}
	b := append([]byte(nil), `-NAK {"delay":`...)
	b = strconv.AppendInt(b, d.Nanoseconds(), 10)
	return append(b, '}')
}

// settle sends an ack or nak for a delivery; with confirm it waits until
// JetStream has applied it.
func (s *Service) settle(ctx context.Context, subject string, payload []byte, confirm bool) error {
	if !confirm {
		return s.nc.Publish(subject, payload)
	}
	cctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	_, err := s.nc.RequestWithContext(cctx, subject, payload)
	if err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
		return nil // sent; the server only confirms deliveries it knows (see settleTimeout)
	}
	return err
}

func (q *queue) forget(sseq uint64) {
	q.mu.Lock()
	delete(q.flights, sseq)
	q.mu.Unlock()
}

// Delete deletes a received message. Any receipt handle of the message works,
// also one from an earlier receive; deleting a message already deleted succeeds.
func (s *Service) Delete(ctx context.Context, name, handle string) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	r, ok := parseReceipt(handle, q)
	if !ok {
		return errReceipt(handle)
	}
	if err := s.settle(ctx, r.subject, ackPayload, true); err != nil {
		return fmt.Errorf("queue: delete: %w", err)
	}
	q.forget(r.ack.sseq)
	return nil
}

// DeleteBatch deletes several received messages in one round trip to
// JetStream. Each entry gets nil or its error; the error is for the whole
// request (the queue does not exist).
func (s *Service) DeleteBatch(ctx context.Context, name string, handles []string) ([]error, error) {
	q, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(handles))
	inbox := nats.NewInbox()
	ch := make(chan *nats.Msg, len(handles))
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("queue: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	sent := 0
	for i, h := range handles {
		r, ok := parseReceipt(h, q)
		if !ok {
			errs[i] = errReceipt(h)
			continue
		}
		if err := s.nc.PublishRequest(r.subject, inbox, ackPayload); err != nil {
			errs[i] = fmt.Errorf("queue: delete: %w", err)
			continue
		}
		q.forget(r.ack.sseq)
		sent++
	}
	cctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for ; sent > 0; sent-- {
		select {
		case <-ch:
		case <-cctx.Done():
			return errs, ctx.Err() // see settleTimeout
		}
	}
	return errs, ctx.Err()
}

// ChangeVisibility makes a received message visible again after timeout (0: now)
// counted from now. The message must be in flight from the receive that issued
// the handle, and its total invisibility since that receive may not exceed 12
// hours. Whether a handle is the latest one is known for receives made by this
// node since it started; otherwise any handle of a stored message is accepted.
func (s *Service) ChangeVisibility(ctx context.Context, name, handle string, timeout time.Duration) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	if timeout < 0 || timeout > MaxVisibilityTimeout {
		return errInvalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", int64(timeout/time.Second))
	}
	r, ok := parseReceipt(handle, q)
	if !ok {
		return errReceipt(handle)
	}
	now := time.Now()
	if now.Add(timeout).After(r.received.Add(MaxVisibilityTimeout)) {
		return errInvalidParam("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].", int64(timeout/time.Second))
	}
	notInFlight := Errorf(CodeMessageNotInflight, "Message does not exist or is not available for visibility timeout change.")
	q.mu.Lock()
	f, known := q.flights[r.ack.sseq]
	q.mu.Unlock()
	if known && (f.delivered != r.ack.delivered || f.deadline <= now.UnixMilli()) {
		return notInFlight
	}
	if !known {
		ok, err := s.stored(ctx, q, r.ack.sseq)
		if err != nil {
			return err
		}
		if !ok {
			return notInFlight
		}
		f = flight{first: r.received.UnixMilli()}
	}
	if err := s.settle(ctx, r.subject, nak(timeout), true); err != nil {
		return fmt.Errorf("queue: change visibility: %w", err)
	}
	q.mu.Lock()
	q.flights[r.ack.sseq] = flight{delivered: r.ack.delivered, deadline: now.Add(timeout).UnixMilli(), first: f.first}
	q.mu.Unlock()
	return nil
}

// stored reports whether the queue's stream still holds message sseq.
func (s *Service) stored(ctx context.Context, q *queue, sseq uint64) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	resp, err := s.nc.RequestWithContext(cctx, "$JS.API.STREAM.MSG.GET."+q.stream, []byte(`{"seq":`+strconv.FormatUint(sseq, 10)+`}`))
	if err != nil {
		return false, fmt.Errorf("queue: get message: %w", err)
	}
	var r struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return false, fmt.Errorf("queue: get message: %w", err)
	}
	if r.Error != nil {
		if r.Error.Code == 404 {
			return false, nil
		}
		return false, fmt.Errorf("queue: get message: code %d", r.Error.Code)
	}
	return true, nil
}
