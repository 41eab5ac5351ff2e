// Package queue provides durable message queues with the semantics of Amazon SQS
// standard queues (at-least-once delivery, visibility timeouts, delays, long
// polling, dead-letter redrive), stored in JetStream. It speaks no wire protocol:
// the SQS API (awsapi/sqsapi) and event source mappings both use Service.
//
// A message is durable once Send returns: JetStream has written it to its file
// store, so kill -9 never loses it. A received message stays in flight (invisible)
// until it is deleted, its visibility timeout passes, or its visibility is
// changed; JetStream keeps that state in its consumer store, so it survives a
// restart (in-flight state changed in the last ~100 ms before a kill -9 may be
// lost, which only makes those messages visible early: at-least-once holds).
//
// # Storage (part of nimbus's on-disk format)
//
// KV bucket "sqs_queues": key = queue name, value = JSON
//
//	{"id": 16 hex digits (new for each incarnation of a name), "name", "created",
//	 "modified" (unix s), "attributes": {settable attributes as GetQueueAttributes
//	 shows them, defaults filled in}, "tags": {…}, "lastPurge": unix ms}
//
// One stream per queue, "SQS_S_<name>", work-queue retention, MaxAge =
// MessageRetentionPeriod, subjects:
//
//   - "sqs.s.<name>": messages ready for delivery;
//   - "sqs.s.<name>.d.<message id>": delayed messages, as JetStream message
//     schedules ("Nats-Schedule: @at <time>", target "sqs.s.<name>"); JetStream
//     moves each to the ready subject at its time.
//
// A message's data is its attribute block followed by its body. The attribute
// block is the attributes sorted by name in AWS's MD5OfMessageAttributes
// encoding (see encodeAttributes); its length is header Sqs-Attrs (absent: no
// attributes). Other headers: Sqs-Id (message id, a UUID), Sqs-Sent (SentTimestamp,
// unix ms), Sqs-Sender (SenderId), and when present Sqs-Trace (AWSTraceHeader),
// Sqs-Group (MessageGroupId), Sqs-Dlq-Source (ARN of the queue a dead-lettered
// message came from) and Sqs-Receives (receives counted before it was moved).
//
// The durable pull consumer "sqs" (filter "sqs.s.<name>", explicit ack) is the
// visibility machinery: a receive is a pull request; a delivered, unacknowledged
// message is in flight; AckWait is the queue's VisibilityTimeout; another
// visibility (per receive, or ChangeMessageVisibility) is a "-NAK" with that
// delay; DeleteMessage is an ack, which removes the message from the work-queue
// stream; the delivery count is ApproximateReceiveCount; MaxAckPending is the
// in-flight limit. A receipt handle is base64url(1 ‖ queue id (8 bytes) ‖
// receive time (uvarint unix ms) ‖ the delivery's JetStream ack subject).
//
// # Concurrency
//
// Service is safe for concurrent use. Queue records are read from an in-memory
// cache kept current by a KV watch (Run), written through KV first. The only
// other in-memory state is per-queue bookkeeping of recent receives (receive
// generation, visibility deadline, first receive time) that refines what
// JetStream does not expose: it is approximate after a restart or across nodes
// (see Message.FirstReceive, ChangeVisibility).
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket holding queue records.
const Bucket = "sqs_queues"

const (
	consumerName  = "sqs"
	streamPrefix  = "SQS_S_"
	subjectPrefix = "sqs.s."
	delayedInfix  = ".d."

	hdrID         = "Sqs-Id"
	hdrSent       = "Sqs-Sent"
	hdrSender     = "Sqs-Sender"
	hdrAttrs      = "Sqs-Attrs"
	hdrTrace      = "Sqs-Trace"
	hdrGroup      = "Sqs-Group"
	hdrDLQSource  = "Sqs-Dlq-Source"
	hdrReceives   = "Sqs-Receives"
	hdrSchedule   = "Nats-Schedule"
	hdrSchedTgt   = "Nats-Schedule-Target"
	purgeInterval = 60 * time.Second
)

// Config configures the service. Zero values are the documented defaults.
type Config struct {
	// MaxMessageSize is MaximumMessageSize for queues created without one;
	// 0 means DefaultMaxMessageSize (256 KiB).
	MaxMessageSize int
	// InFlightLimit is the most messages one queue may have in flight; 0 means
	// 120,000, AWS's limit for standard queues. Receives return fewer (or no)
	// messages while a queue is at the limit.
	InFlightLimit int
}

// Service is the queue service.
type Service struct {
	cfg Config
	log *slog.Logger
	js  jetstream.JetStream
	nc  *nats.Conn
	kv  jetstream.KeyValue
	w   jetstream.KeyWatcher

	// pollCtx ends when StopPolling is called: long polls return at once.
	pollCtx    context.Context
	stopPoll   context.CancelFunc
	sweepEvery time.Duration

	mu     sync.RWMutex
	queues map[string]entry // guarded by mu; by name
}

type entry struct {
	rev uint64
	q   *queue // nil: deleted at rev
}

// record is the durable record of one queue (the KV value).
type record struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Created    int64             `json:"created"`
	Modified   int64             `json:"modified"`
	Attributes map[string]string `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	LastPurge  int64             `json:"lastPurge,omitempty"`
}

// queue is the in-memory state of one incarnation of a queue.
type queue struct {
	name    string
	id      uint64
	stream  string
	subject string
	arn     string
	state   atomic.Pointer[qstate]

	mu      sync.Mutex
	flights map[uint64]flight // guarded by mu; by stream sequence
}

// qstate is an immutable snapshot of a queue's record.
type qstate struct {
	rev uint64
	rec *record
	set settings
}

// flight is what this node knows about a received message.
type flight struct {
	delivered uint64 // delivery count of the latest receive
	deadline  int64  // unix ms when it becomes visible again
	first     int64  // unix ms of the first receive seen
}

func newQueue(rev uint64, rec *record) *queue {
	id, _ := strconv.ParseUint(rec.ID, 16, 64)
	q := &queue{
		name:    rec.Name,
		id:      id,
		stream:  streamPrefix + rec.Name,
		subject: subjectPrefix + rec.Name,
		arn:     ARN(rec.Name),
		flights: map[uint64]flight{},
	}
	q.state.Store(&qstate{rev: rev, rec: rec, set: parseSettings(rec.Attributes)})
	return q
}

// Open loads the queues from kv, makes sure each has its stream and consumer,
// removes streams left by queues deleted during a crash, and starts watching kv.
// Run must be called to keep the cache current.
func Open(ctx context.Context, cfg Config, log *slog.Logger, js jetstream.JetStream, kv jetstream.KeyValue) (*Service, error) {
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.InFlightLimit == 0 {
		cfg.InFlightLimit = 120000
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: watch: %w", err)
	}
	pollCtx, stop := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, log: log, js: js, nc: js.Conn(), kv: kv, w: w, pollCtx: pollCtx, stopPoll: stop,
		sweepEvery: time.Minute, queues: map[string]entry{}}
	for u := range w.Updates() {
		if u == nil {
			if err := s.reconcile(ctx); err != nil {
				w.Stop()
				stop()
				return nil, err
			}
			return s, nil
		}
		s.apply(u)
	}
	stop()
	return nil, errors.New("queue: watch closed during load")
}

// reconcile creates missing streams and consumers and deletes orphaned streams.
func (s *Service) reconcile(ctx context.Context) error {
	s.mu.RLock()
	var qs []*queue
	for _, e := range s.queues {
		if e.q != nil {
			qs = append(qs, e.q)
		}
	}
	s.mu.RUnlock()
	known := map[string]bool{}
	for _, q := range qs {
		known[q.stream] = true
		if err := s.ensureStream(ctx, q, q.state.Load().set); err != nil {
			return err
		}
	}
	names := s.js.StreamNames(ctx, jetstream.WithStreamListSubject("sqs.>"))
	var orphans []string
	for n := range names.Name() {
		if strings.HasPrefix(n, streamPrefix) && !known[n] {
			orphans = append(orphans, n)
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("queue: list streams: %w", err)
	}
	for _, n := range orphans {
		// A record deleted before its stream (DeleteQueue interrupted). Records are
		// written before streams are created, so a stream without one is garbage.
		s.log.Info("deleting stream of a deleted queue", "stream", n)
		if err := s.js.DeleteStream(ctx, n); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("queue: delete stream %s: %w", n, err)
		}
	}
	return nil
}

// Run applies changes made elsewhere (other nodes) and prunes bookkeeping until
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.w.Stop()
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.StopPolling()
			return nil
		case <-t.C:
			s.sweep(time.Now())
		case u, ok := <-s.w.Updates():
			if !ok {
				return nil
			}
			if u != nil {
				s.apply(u)
			}
		}
	}
}

// StopPolling ends every long poll now (they return what they have) and makes
// later receives return at once. Call it when the server starts shutting down,
// so that HTTP requests finish (e.g. http.Server.RegisterOnShutdown).
func (s *Service) StopPolling() { s.stopPoll() }

// sweep forgets receives of messages that retention has removed by now.
func (s *Service) sweep(now time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.queues {
		if e.q == nil {
			continue
		}
		limit := now.Add(-e.q.state.Load().set.retention).UnixMilli()
		e.q.mu.Lock()
		maps.DeleteFunc(e.q.flights, func(_ uint64, f flight) bool { return f.first < limit })
		e.q.mu.Unlock()
	}
}

func (s *Service) apply(u jetstream.KeyValueEntry) {
	var rec *record
	if u.Operation() == jetstream.KeyValuePut {
		rec = new(record)
		if err := json.Unmarshal(u.Value(), rec); err != nil || rec.Name != u.Key() {
			return // never written by this package
		}
	}
	s.store(u.Key(), u.Revision(), rec)
}

// store applies a record (nil: deleted) at revision rev unless a later one is known.
func (s *Service) store(name string, rev uint64, rec *record) *queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.queues[name]
	if ok && cur.rev >= rev {
		return cur.q
	}
	switch {
	case rec == nil:
		s.queues[name] = entry{rev: rev}
		return nil
	case cur.q != nil && cur.q.state.Load().rec.ID == rec.ID:
		cur.q.state.Store(&qstate{rev: rev, rec: rec, set: parseSettings(rec.Attributes)})
		s.queues[name] = entry{rev: rev, q: cur.q}
		return cur.q
	default:
		q := newQueue(rev, rec)
		s.queues[name] = entry{rev: rev, q: q}
		return q
	}
}

// lookup returns the queue named name or QueueDoesNotExist.
func (s *Service) lookup(name string) (*queue, error) {
	s.mu.RLock()
	e := s.queues[name]
	s.mu.RUnlock()
	if e.q == nil {
		return nil, errNoQueue()
	}
	return e.q, nil
}

// Exists reports whether a queue named name exists.
func (s *Service) Exists(name string) bool {
	_, err := s.lookup(name)
	return err == nil
}

// ByARN returns the name of the queue with the given ARN, if it exists.
func (s *Service) ByARN(arn string) (string, bool) {
	name, ok := NameFromARN(arn)
	if !ok || !s.Exists(name) {
		return "", false
	}
	return name, true
}

// List returns the names of the queues starting with prefix, in order.
func (s *Service) List(prefix string) []string {
	s.mu.RLock()
	var out []string
	for name, e := range s.queues {
		if e.q != nil && strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
}

// DeadLetterSources returns the names of the queues whose RedrivePolicy targets
// the queue named name, in order.
func (s *Service) DeadLetterSources(name string) ([]string, error) {
	if _, err := s.lookup(name); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []string
	for n, e := range s.queues {
		if e.q != nil {
			if rp := e.q.state.Load().set.redrive; rp != nil && rp.target == name {
				out = append(out, n)
			}
		}
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out, nil
}

func streamConfig(q *queue, set settings) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              q.stream,
		Description:       "SQS queue " + q.name,
		Subjects:          []string{q.subject, q.subject + ".>"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		MaxAge:            set.retention,
		Discard:           jetstream.DiscardOld,
		AllowMsgSchedules: true,
		AllowRollup:       true, // required by message schedules
		Duplicates:        2 * time.Minute,
	}
}

// ackWait is the consumer's AckWait for a queue's VisibilityTimeout (JetStream
// needs a positive one; a zero timeout is applied per receive).
func ackWait(visibility time.Duration) time.Duration {
	return max(visibility, time.Second)
}

func (s *Service) consumerConfig(q *queue, set settings) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       consumerName,
		FilterSubject: q.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait(set.visibility),
		MaxDeliver:    -1,
		MaxAckPending: s.cfg.InFlightLimit,
		MaxWaiting:    4096,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// ensureStream creates or updates a queue's stream and consumer to match set.
func (s *Service) ensureStream(ctx context.Context, q *queue, set settings) error {
	if _, err := s.js.CreateOrUpdateStream(ctx, streamConfig(q, set)); err != nil {
		return fmt.Errorf("queue: stream %s: %w", q.stream, err)
	}
	if _, err := s.js.CreateOrUpdateConsumer(ctx, q.stream, s.consumerConfig(q, set)); err != nil {
		return fmt.Errorf("queue: consumer %s: %w", q.stream, err)
	}
	return nil
}

func (r *record) clone() *record {
	c := *r
	c.Attributes = maps.Clone(r.Attributes)
	c.Tags = maps.Clone(r.Tags)
	return &c
}
