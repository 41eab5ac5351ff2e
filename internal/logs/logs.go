// Package logs stores functions' logs durably and reads them back.
//
// One record is the log of one invocation as Lambda writes it: any output the
// environment produced before it (init), START, the invocation's lines, END and
// REPORT. Records are messages on the JetStream stream "LAMBDA_LOGS", subject
// "logs.fn.<function name>", header Nimbus-Log-Stream = the environment's log
// stream name; the message timestamp is the record's time. Appends do not wait for
// the store (they are off the invoke path); they are durable once JetStream has
// them, and kept for Config.MaxAge.
package logs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// Stream is the JetStream stream holding log records.
	Stream        = "LAMBDA_LOGS"
	subjectPrefix = "logs.fn."
	headerStream  = "Nimbus-Log-Stream"
)

// Config configures the store; zero values mean 7 days and 1 GiB.
type Config struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// Store is the log store.
type Store struct {
	js jetstream.JetStream
}

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
	return &Store{js: js}, nil
}

// Append stores one record of function fn without waiting for the acknowledgement.
func (s *Store) Append(fn, logStream string, record []byte) {
	m := nats.NewMsg(subjectPrefix + fn)
	m.Header.Set(headerStream, logStream)
	m.Data = record
	s.js.PublishMsgAsync(m)
}

// Record is one stored record.
type Record struct {
	Time      time.Time
	LogStream string
	Text      []byte
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
		if err := emit(Record{Time: md.Timestamp, LogStream: msg.Headers().Get(headerStream), Text: msg.Data()}); err != nil {
			return err
		}
		if !follow && md.NumPending == 0 {
			return nil
		}
	}
}
