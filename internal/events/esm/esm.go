// Package esm runs event source mappings: pollers that read batches from a
// queue and invoke a function synchronously through the invoke front door, as
// Lambda's SQS event source does.
//
// Semantics (aws-facts.md §7): a batch of up to BatchSize messages (default 10),
// gathered for up to MaximumBatchingWindowInSeconds, becomes one SQS event
// (aws-lambda-go's events.SQSEvent shape). Success deletes the batch; a function
// error or a throttle leaves it to become visible again after the queue's
// visibility timeout; with FunctionResponseTypes [ReportBatchItemFailures] only
// the messages named in {"batchItemFailures":[{"itemIdentifier":id}]} stay (an
// empty or null list means all succeeded; an unparseable answer means all
// failed). ScalingConfig.MaximumConcurrency bounds concurrent batches per
// mapping (default 5 here; Lambda scales from 5 up to 1,000).
//
// Mappings are stored in the KV bucket "lambda_esm" (key = UUID, value = JSON
// Mapping). Each enabled mapping has one owning goroutine per concurrent poller;
// Sync starts and stops them to match the store. Messages are never lost: they
// are deleted only after the function succeeded with them.
package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Bucket is the KV bucket of mappings.
const Bucket = "lambda_esm"

// Mapping is an event source mapping as the Lambda API shows it
// (EventSourceMappingConfiguration).
type Mapping struct {
	UUID                           string         `json:"UUID"`
	EventSourceArn                 string         `json:"EventSourceArn"`
	FunctionArn                    string         `json:"FunctionArn"`
	BatchSize                      int            `json:"BatchSize"`
	MaximumBatchingWindowInSeconds int            `json:"MaximumBatchingWindowInSeconds"`
	FunctionResponseTypes          []string       `json:"FunctionResponseTypes"`
	ScalingConfig                  *ScalingConfig `json:"ScalingConfig,omitempty"`
	State                          string         `json:"State"`
	StateTransitionReason          string         `json:"StateTransitionReason"`
	LastModified                   float64        `json:"LastModified"`
	LastProcessingResult           string         `json:"LastProcessingResult,omitempty"`
}

// ScalingConfig bounds a mapping's concurrency.
type ScalingConfig struct {
	MaximumConcurrency int `json:"MaximumConcurrency,omitempty"`
}

func (m *Mapping) concurrency() int {
	if m.ScalingConfig != nil && m.ScalingConfig.MaximumConcurrency > 0 {
		return m.ScalingConfig.MaximumConcurrency
	}
	return 5
}

func (m *Mapping) reportsItemFailures() bool {
	return slices.Contains(m.FunctionResponseTypes, "ReportBatchItemFailures")
}

// Invoker is the front door.
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (*invoke.Response, error)
}

// Service stores mappings and runs their pollers.
type Service struct {
	kv     jetstream.KeyValue
	queues *queue.Service
	inv    Invoker
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]*poller // guarded by mu: UUID → pollers of an enabled mapping
	kick    chan struct{}
}

type poller struct {
	m      Mapping
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// New returns the service.
func New(kv jetstream.KeyValue, q *queue.Service, inv Invoker, log *slog.Logger) *Service {
	return &Service{kv: kv, queues: q, inv: inv, log: log, running: map[string]*poller{}, kick: make(chan struct{}, 1)}
}

// Run keeps pollers in line with the stored mappings until ctx ends, then stops them all.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		s.sync(ctx)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			ps := s.running
			s.running = map[string]*poller{}
			s.mu.Unlock()
			for _, p := range ps {
				p.cancel()
				p.done.Wait()
			}
			return nil
		case <-s.kick:
		case <-t.C:
		}
	}
}

// changed asks Run to apply a change now.
func (s *Service) changed() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) sync(ctx context.Context) {
	ms, err := s.List(ctx)
	if err != nil {
		s.log.Warn("esm: list", "err", err)
		return
	}
	want := map[string]Mapping{}
	for _, m := range ms {
		if m.State == "Enabled" {
			want[m.UUID] = m
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.running {
		if w, ok := want[id]; !ok || w.LastModified != p.m.LastModified {
			p.cancel()
			delete(s.running, id)
		}
	}
	for id, m := range want {
		if _, ok := s.running[id]; ok {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		p := &poller{m: m, cancel: cancel}
		for range m.concurrency() {
			p.done.Go(func() { s.poll(pctx, m) })
		}
		s.running[id] = p
	}
}

// poll receives and processes batches until ctx ends.
func (s *Service) poll(ctx context.Context, m Mapping) {
	name, ok := queue.NameFromARN(m.EventSourceArn)
	if !ok {
		return
	}
	for ctx.Err() == nil {
		batch, err := s.gather(ctx, name, m)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("esm: receive", "mapping", m.UUID, "queue", name, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if len(batch) > 0 {
			s.process(context.WithoutCancel(ctx), name, m, batch)
		}
	}
}

// gather collects up to BatchSize messages, waiting up to the batching window.
func (s *Service) gather(ctx context.Context, name string, m Mapping) ([]queue.Message, error) {
	var batch []queue.Message
	deadline := time.Now().Add(time.Duration(m.MaximumBatchingWindowInSeconds) * time.Second)
	for len(batch) < m.BatchSize {
		wait := 20 * time.Second
		if len(batch) > 0 || m.MaximumBatchingWindowInSeconds > 0 {
			wait = max(0, time.Until(deadline))
			if len(batch) > 0 && wait == 0 {
				break
			}
			if wait == 0 {
				wait = 20 * time.Second
			}
		}
		msgs, err := s.queues.Receive(ctx, name, queue.ReceiveOptions{Max: min(10, m.BatchSize-len(batch)), Wait: &wait})
		if err != nil {
			return batch, err
		}
		batch = append(batch, msgs...)
		if len(msgs) == 0 && len(batch) > 0 {
			break
		}
		if m.MaximumBatchingWindowInSeconds == 0 && len(batch) > 0 {
			break
		}
	}
	return batch, nil
}

type sqsRecord struct {
	MessageID         string                    `json:"messageId"`
	ReceiptHandle     string                    `json:"receiptHandle"`
	Body              string                    `json:"body"`
	Attributes        map[string]string         `json:"attributes"`
	MessageAttributes map[string]sqsMessageAttr `json:"messageAttributes"`
	MD5OfBody         string                    `json:"md5OfBody"`
	MD5OfMessageAttrs string                    `json:"md5OfMessageAttributes,omitempty"`
	EventSource       string                    `json:"eventSource"`
	EventSourceARN    string                    `json:"eventSourceARN"`
	AWSRegion         string                    `json:"awsRegion"`
}

type sqsMessageAttr struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

// Event builds the SQS event Lambda sends for a batch.
func Event(arn string, batch []queue.Message) []byte {
	recs := make([]sqsRecord, 0, len(batch))
	for _, msg := range batch {
		attrs := map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(msg.ReceiveCount),
			"SentTimestamp":                    strconv.FormatInt(msg.SentTimestamp.UnixMilli(), 10),
			"SenderId":                         msg.SenderID,
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(msg.FirstReceive.UnixMilli(), 10),
		}
		if msg.TraceHeader != "" {
			attrs["AWSTraceHeader"] = msg.TraceHeader
		}
		mas := map[string]sqsMessageAttr{}
		for _, a := range msg.Attributes {
			ma := sqsMessageAttr{DataType: a.DataType, StringListValues: []string{}, BinaryListValues: [][]byte{}}
			if a.BinaryValue != nil {
				ma.BinaryValue = a.BinaryValue
			} else {
				v := a.StringValue
				ma.StringValue = &v
			}
			mas[a.Name] = ma
		}
		recs = append(recs, sqsRecord{
			MessageID: msg.ID, ReceiptHandle: msg.ReceiptHandle, Body: msg.Body, Attributes: attrs,
			MessageAttributes: mas, MD5OfBody: msg.MD5OfBody, MD5OfMessageAttrs: msg.MD5OfAttributes,
			EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: lambda.Region,
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

// process invokes the function with a batch and deletes what succeeded.
func (s *Service) process(ctx context.Context, name string, m Mapping, batch []queue.Message) {
	resp, err := s.inv.Invoke(ctx, invoke.Request{FunctionName: m.FunctionArn, Payload: Event(m.EventSourceArn, batch)})
	if err != nil { // throttled or gone: the batch becomes visible again
		if e, ok := lambda.AsError(err); ok && e.Status == 429 {
			sleep(ctx, time.Second)
		} else {
			s.log.Warn("esm: invoke", "mapping", m.UUID, "err", err)
		}
		return
	}
	if resp.FunctionError != "" {
		return
	}
	keep := map[string]bool{}
	if m.reportsItemFailures() {
		var r struct {
			BatchItemFailures []struct {
				ItemIdentifier string `json:"itemIdentifier"`
			} `json:"batchItemFailures"`
		}
		if len(resp.Payload) > 0 && string(resp.Payload) != "null" {
			if err := json.Unmarshal(resp.Payload, &r); err != nil {
				return // an answer we cannot read: the whole batch failed
			}
		}
		for _, f := range r.BatchItemFailures {
			keep[f.ItemIdentifier] = true
		}
	}
	var handles []string
	for _, msg := range batch {
		if !keep[msg.ID] {
			handles = append(handles, msg.ReceiptHandle)
		}
	}
	if len(handles) == 0 {
		return
	}
	if _, err := s.queues.DeleteBatch(ctx, name, handles); err != nil {
		s.log.Warn("esm: delete", "mapping", m.UUID, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// List returns every mapping.
func (s *Service) List(ctx context.Context) ([]Mapping, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Mapping
	for k := range keys.Keys() {
		m, err := s.Get(ctx, k)
		if err == nil {
			out = append(out, *m)
		}
	}
	return out, nil
}

// Get returns one mapping.
func (s *Service) Get(ctx context.Context, id string) (*Mapping, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, lambda.NotFound("The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: %s)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("esm: get: %w", err)
	}
	var m Mapping
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Put stores a mapping and applies it.
func (s *Service) Put(ctx context.Context, m *Mapping) error {
	b, _ := json.Marshal(m)
	if _, err := s.kv.Put(ctx, m.UUID, b); err != nil {
		return fmt.Errorf("esm: put: %w", err)
	}
	s.changed()
	return nil
}

// Delete removes a mapping and stops its pollers.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("esm: delete: %w", err)
	}
	s.changed()
	return nil
}

// Queues is the queue service mappings read from.
func (s *Service) Queues() *queue.Service { return s.queues }
