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

	// ackWait is how soon an event whose worker died (kill -9) is delivered again;
	// a live worker extends it every ackWait/3 while the function runs.
	ackWait = 15 * time.Second

	maxRetryAttempts = 2
	maxEventAge      = 6 * time.Hour
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

// handle runs one async event and settles its message.
func (s *Service) handle(ctx context.Context, msg jetstream.Msg) {
	h := msg.Headers()
	name, q, id := h.Get(hdrFunction), h.Get(hdrQualifier), h.Get(hdrRequestID)
	md, err := msg.Metadata()
	if err != nil {
		msg.Nak()
		return
	}
	received, _ := strconv.ParseInt(h.Get(hdrReceived), 10, 64)
	if age := time.Since(time.UnixMilli(received)); age > maxEventAge {
		s.log.Warn("async event dropped: too old", "function", name, "request_id", id, "age", age)
		msg.Term()
		return
	}
	t, err := s.resolve(name, q)
	if err != nil {
		s.log.Warn("async event dropped", "function", name, "request_id", id, "err", err)
		msg.Term()
		return
	}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	go heartbeat(hbCtx, msg)
	out, err := s.run(ctx, t, Request{RequestID: id, Payload: msg.Data()}, nil)
	stopHeartbeat()
	attempt := int(md.NumDelivered)
	switch {
	case err != nil: // a system error: retry with backoff, bounded by the event age
		msg.NakWithDelay(min(time.Duration(1<<min(attempt, 9))*time.Second, 5*time.Minute))
	case out.Result.ErrorType != "" && attempt <= maxRetryAttempts:
		msg.NakWithDelay(time.Duration(attempt) * s.cfg.AsyncRetryBase)
	case out.Result.ErrorType != "":
		s.log.Warn("async event failed after retries", "function", name, "request_id", id, "attempts", attempt, "error_type", out.Result.ErrorType)
		msg.Ack()
	default:
		msg.Ack()
	}
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
