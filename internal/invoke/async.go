package invoke

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/sched"
)

// Async events are messages on the work-queue stream "LAMBDA_ASYNC", subject
// "lambda.async.<function>", body = payload, headers below; the durable consumer
// "lambda-async" delivers each to one worker, which acknowledges it only once the
// event is finished (succeeded, or its retries are exhausted).
const (
	AsyncStream   = "LAMBDA_ASYNC"
	asyncSubject  = "lambda.async."
	asyncConsumer = "lambda-async"

	hdrFunction  = "Nimbus-Function"
	hdrQualifier = "Nimbus-Qualifier"
	hdrRequestID = "Nimbus-Request-Id"
	hdrReceived  = "Nimbus-Received"
	hdrAttempt   = "Nimbus-Attempt"    // function invocations already made
	hdrNotBefore = "Nimbus-Not-Before" // epoch ms before which the event must not run

	// ackWait is how soon an event whose worker died (kill -9) is delivered again;
	// a live worker extends it every ackWait/3 while the function runs.
	ackWait = 15 * time.Second
)

// Open creates the async stream and consumer.
func (s *Service) Open(ctx context.Context) error {
	_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       AsyncStream,
		Subjects:   []string{asyncSubject + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("invoke: async stream: %w", err)
	}
	s.cons, err = s.js.CreateOrUpdateConsumer(ctx, AsyncStream, jetstream.ConsumerConfig{
		Durable:       asyncConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait, // workers heartbeat while an invocation runs
		MaxDeliver:    -1,
		MaxAckPending: 10000,
	})
	if err != nil {
		return fmt.Errorf("invoke: async consumer: %w", err)
	}
	return nil
}

func (s *Service) enqueue(ctx context.Context, t target, req Request) error {
	m := nats.NewMsg(asyncSubject + t.cfg.FunctionName)
	m.Header.Set(hdrFunction, t.cfg.FunctionName)
	m.Header.Set(hdrQualifier, req.Qualifier)
	if _, q, _ := lambda.ParseFunctionRef(req.FunctionName, req.Qualifier); q != "" {
		m.Header.Set(hdrQualifier, q)
	}
	m.Header.Set(hdrRequestID, req.RequestID)
	m.Header.Set(hdrReceived, strconv.FormatInt(time.Now().UnixMilli(), 10))
	m.Data = req.Payload
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID(req.RequestID)); err != nil {
		return fmt.Errorf("invoke: enqueue: %w", err)
	}
	return nil
}

// Run consumes async events until ctx ends. In-flight events that do not finish
// are redelivered after a restart (at-least-once).
func (s *Service) Run(ctx context.Context) error {
	it, err := s.cons.Messages(jetstream.PullMaxMessages(s.cfg.AsyncWorkers))
	if err != nil {
		return fmt.Errorf("invoke: async consume: %w", err)
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	sem := make(chan struct{}, s.cfg.AsyncWorkers)
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
			for range cap(sem) { // wait for workers
				sem <- struct{}{}
			}
			return nil
		}
		if err != nil {
			s.log.Warn("async consume", "err", err)
			continue
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			s.handle(ctx, msg)
		}()
	}
}

// handle runs one async event and settles its message. Function errors are
// retried MaximumRetryAttempts times (1×, 2× AsyncRetryBase apart) by
// publishing the event again with its attempt count and a not-before time, and
// only then acknowledging this copy; throttles and system errors are retried
// with backoff (no attempt counted) until MaximumEventAgeInSeconds. Finished
// events go to the OnSuccess/OnFailure destination and failed ones to the DLQ.
func (s *Service) handle(ctx context.Context, msg jetstream.Msg) {
	h := msg.Headers()
	ev := asyncEvent{
		fn: h.Get(hdrFunction), qualifier: h.Get(hdrQualifier), id: h.Get(hdrRequestID), payload: msg.Data(),
	}
	ev.received = headerTime(h.Get(hdrReceived))
	ev.attempts, _ = strconv.Atoi(h.Get(hdrAttempt))
	if nb := headerTime(h.Get(hdrNotBefore)); time.Until(nb) > 0 {
		msg.NakWithDelay(time.Until(nb))
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		msg.Nak()
		return
	}
	fn, ok := s.reg.Get(ev.fn)
	if !ok {
		s.log.Warn("async event dropped: function deleted", "function", ev.fn, "request_id", ev.id)
		s.metrics.AsyncDropped(ev.fn)
		msg.Term()
		return
	}
	cfg := fn.EventInvokeConfig(ev.qualifier)
	if md.NumDelivered == 1 && ev.attempts == 0 {
		s.metrics.AsyncReceived(ev.fn, time.Since(ev.received))
	}
	if time.Since(ev.received) > time.Duration(cfg.MaxAge())*time.Second {
		s.finish(ctx, fn.Latest.DeadLetterConfig, cfg, &ev, "EventAgeExceeded", nil)
		msg.Ack()
		return
	}
	if fn.Reserved != nil && *fn.Reserved == 0 {
		// Throttled for good: straight to the failure destination, no retries.
		s.finish(ctx, fn.Latest.DeadLetterConfig, cfg, &ev, "RetriesExhausted", nil)
		msg.Ack()
		return
	}
	t, err := s.resolve(ev.fn, ev.qualifier)
	if err != nil {
		s.log.Warn("async event dropped", "function", ev.fn, "request_id", ev.id, "err", err)
		s.metrics.AsyncDropped(ev.fn)
		msg.Term()
		return
	}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	go heartbeat(hbCtx, msg)
	out, err := s.run(ctx, t, Request{RequestID: ev.id, Payload: ev.payload}, nil)
	stopHeartbeat()
	switch {
	case err != nil: // throttled or a system error: retry with backoff until the event is too old
		n := int(md.NumDelivered)
		msg.NakWithDelay(min(time.Duration(1<<min(n, 9))*time.Second, 5*time.Minute))
		return
	}
	ev.attempts++
	ev.out = &out
	if out.Result.ErrorType == "" {
		s.finish(ctx, nil, cfg, &ev, "Success", &out)
		msg.Ack()
		return
	}
	if ev.attempts <= cfg.Retries() {
		if err := s.requeue(ctx, &ev, time.Duration(ev.attempts)*s.cfg.AsyncRetryBase); err != nil {
			msg.NakWithDelay(time.Second) // could not store the retry; run this copy again
			return
		}
		msg.Ack()
		return
	}
	s.finish(ctx, fn.Latest.DeadLetterConfig, cfg, &ev, "RetriesExhausted", &out)
	msg.Ack()
}

type asyncEvent struct {
	fn, qualifier, id string
	payload           []byte
	received          time.Time
	attempts          int // function invocations so far
	out               *sched.Outcome
}

func headerTime(v string) time.Time {
	ms, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(ms)
}

// requeue stores the event again for its next attempt after delay.
func (s *Service) requeue(ctx context.Context, ev *asyncEvent, delay time.Duration) error {
	m := nats.NewMsg(asyncSubject + ev.fn)
	m.Header.Set(hdrFunction, ev.fn)
	m.Header.Set(hdrQualifier, ev.qualifier)
	m.Header.Set(hdrRequestID, ev.id)
	m.Header.Set(hdrReceived, strconv.FormatInt(ev.received.UnixMilli(), 10))
	m.Header.Set(hdrAttempt, strconv.Itoa(ev.attempts))
	m.Header.Set(hdrNotBefore, strconv.FormatInt(time.Now().Add(delay).UnixMilli(), 10))
	m.Data = ev.payload
	_, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID(ev.id+"/"+strconv.Itoa(ev.attempts)))
	return err
}

// heartbeat tells JetStream the event is still being worked on until ctx ends.
func heartbeat(ctx context.Context, msg jetstream.Msg) {
	t := time.NewTicker(ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			msg.InProgress()
		}
	}
}
