// Package logs stores functions' logs durably and reads them back.
//
// One record is the log of one invocation as Lambda writes it: any output the
// environment produced before it (init), START, the invocation's lines, END and
// REPORT. Records are batched: each message on the JetStream stream
// "LAMBDA_LOGS", subject "logs.fn.<function name>", holds the records of one
// function appended during one flush interval, in order; the message timestamp is
// the flush time. Appends do not wait for the store (they are off the invoke
// path); they are durable once flushed, and kept for Config.MaxAge.
package logs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// Stream is the JetStream stream holding log records.
	Stream        = "LAMBDA_LOGS"
	subjectPrefix = "logs.fn."
)

// Config configures the store; zero values mean 7 days and 1 GiB.
type Config struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// Store is the log store.
type Store struct {
	js jetstream.JetStream

	mu      sync.Mutex
	pending map[string][]byte // guarded by mu: records per function not yet published
	size    int               // guarded by mu
	kick    chan struct{}     // buffered 1: pending grew past flushBytes
}

const (
	// Records are published in batches, one message per function per flush, so
	// the invoke path never waits on the store and a busy function costs one
	// JetStream write per flushEvery instead of one per invocation.
	flushEvery = 20 * time.Millisecond
	flushBytes = 256 << 10
)

// Open creates or opens the log stream.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 1 << 30
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     Stream,
		Subjects: []string{subjectPrefix + ">"},
		Storage:  jetstream.FileStorage,
		MaxAge:   cfg.MaxAge,
		MaxBytes: cfg.MaxBytes,
		Discard:  jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("logs: stream: %w", err)
	}
	return &Store{js: js, pending: map[string][]byte{}, kick: make(chan struct{}, 1)}, nil
}

// Append queues one record of function fn for the next flush; it never blocks
// on storage. Records reach JetStream within flushEvery; a crash loses at most
// the records of that window (logs are never acknowledged to a client).
func (s *Store) Append(fn, logStream string, record []byte) {
	s.mu.Lock()
	s.pending[fn] = append(s.pending[fn], record...)
	s.size += len(record)
	big := s.size >= flushBytes
	s.mu.Unlock()
	if big {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Run publishes queued records until ctx ends, then publishes what is left.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
		case <-s.kick:
		}
		s.flush(ctx)
	}
}

func (s *Store) flush(ctx context.Context) {
	s.mu.Lock()
	if s.size == 0 {
		s.mu.Unlock()
		return
	}
	batch := s.pending
	s.pending = make(map[string][]byte, len(batch))
	s.size = 0
	s.mu.Unlock()
	for fn, data := range batch {
		m := nats.NewMsg(subjectPrefix + fn)
		m.Data = data
		s.js.PublishMsgAsync(m)
	}
	select {
	case <-s.js.PublishAsyncComplete():
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
}

// Record is one stored batch of a function's log records.
type Record struct {
	Time time.Time
	Text []byte
}

// Read calls emit for every record of fn since the given time, in order. With
// follow it then waits for new records until ctx ends; otherwise it returns when
// it has caught up.
func (s *Store) Read(ctx context.Context, fn string, since time.Time, follow bool, emit func(Record) error) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjectPrefix + fn},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	}
	if since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
		cfg.OptStartTime = nil
	}
	cons, err := s.js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return fmt.Errorf("logs: consumer: %w", err)
	}
	if !follow {
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("logs: consumer info: %w", err)
		}
		if info.NumPending == 0 {
			return nil
		}
	}
	for {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(nctx))
		cancel()
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("logs: read: %w", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		if err := emit(Record{Time: md.Timestamp, Text: msg.Data()}); err != nil {
			return err
		}
		if !follow && md.NumPending == 0 {
			return nil
		}
	}
}
