// Package topic provides durable publish/subscribe topics with the semantics of
// Amazon SNS standard topics: subscriptions of functions (invoked
// asynchronously with the SNS event), queues (the SNS JSON envelope as the
// message body, or the raw message) and HTTP/S endpoints (POSTs with the
// SubscriptionConfirmation handshake), message attributes, MessageStructure
// json, and filter policies on attributes or on the message body. It speaks no
// wire protocol: the SNS API (awsapi/snsapi) uses Service.
//
// # Delivery guarantee
//
// Publish returns only once JetStream has stored the message, and a message
// leaves JetStream only after every matching subscription has its own durable
// delivery record, which is removed only once the delivery succeeded (an async
// invocation was accepted, which is itself durable; a queue stored the message;
// an endpoint answered 2xx) or failed for good (then it goes to the
// subscription's dead-letter queue, if it has a RedrivePolicy). kill -9 at any
// point loses nothing acknowledged; it may deliver a message twice.
//
// # Storage (part of nimbus's on-disk format)
//
// KV bucket "sns_topics" holds topics and subscriptions:
//
//   - key "t.<name>": JSON {"id": 16 hex digits (new for each incarnation of a
//     name), "name", "created" (unix ms), "attributes": {settable attributes as
//     given}, "tags": {…}};
//   - key "s.<subscription uuid>": JSON {"id", "topic" (name), "topicId" (the
//     incarnation it belongs to; others are orphans, removed at Open),
//     "protocol", "endpoint", "attributes": {settable attributes as given,
//     RawMessageDelivery lower-cased}, "pending" (awaiting ConfirmSubscription),
//     "token" (the confirmation token), "created" (unix ms)}.
//
// Stream "SNS_PUBLISH" (work queue, subjects "sns.publish.<topic>") holds
// published messages not yet fanned out: one JSON published record per message
// (see type published), header Nats-Msg-Id = the MessageId. Its durable
// consumer "sns-fanout" turns each into one record per matching subscription on
// stream "SNS_DELIVERY" (work queue, subjects "sns.deliver.<topic>", JSON
// delivery records, Nats-Msg-Id "<MessageId>.<subscription uuid>" so that a
// fan-out repeated after a crash stores no duplicates), whose durable consumer
// "sns-deliver" delivers and retries them (JetStream's redelivery count is the
// attempt count).
//
// # Concurrency
//
// Service is safe for concurrent use. Topics and subscriptions are read from an
// in-memory cache kept current by a KV watch (Run) and written through KV
// first. Run owns every goroutine: the watch, the fan-out and the delivery
// workers.
package topic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Bucket is the KV bucket holding topics and subscriptions.
const Bucket = "sns_topics"

const (
	topicKey = "t."
	subKey   = "s."
)

// Invoker is the invoke front door; subscriptions of protocol lambda are
// delivered as Event invocations.
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (*invoke.Response, error)
}

// Config configures the service. Zero values are the documented defaults.
type Config struct {
	// APIURL is the base URL of the SNS API as endpoints should reach it:
	// SubscribeURL and UnsubscribeURL point there. "" means http://127.0.0.1:8900.
	APIURL string
	// Workers bounds concurrent deliveries; 0 means 32.
	Workers int
	// HTTPTimeout bounds one HTTP/S delivery; 0 means 15 s (AWS's).
	HTTPTimeout time.Duration
	// HTTPRetryDelay is the delay between HTTP/S delivery attempts when no
	// DeliveryPolicy sets one; 0 means 20 s (AWS's default policy: 3 retries,
	// 20 s apart).
	HTTPRetryDelay time.Duration
	// RetryBase is the first delay after a system error delivering to a
	// function or a queue (it doubles up to 20 s; these deliveries are retried
	// until they succeed); 0 means 1 s.
	RetryBase time.Duration
	// LoopbackOnly restricts HTTP/S endpoints to loopback addresses: Subscribe
	// refuses others and deliveries never dial them.
	LoopbackOnly bool
}

// Service is the topic service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	w      jetstream.KeyWatcher
	inv    Invoker
	queues *queue.Service
	client *http.Client

	fanoutCons, deliverCons jetstream.Consumer

	mu      sync.RWMutex
	revs    map[string]uint64                   // guarded by mu; latest revision applied per key (delete markers too)
	topics  map[string]*topicState              // guarded by mu; by name
	subs    map[string]*subscription            // guarded by mu; by id
	byTopic map[string]map[string]*subscription // guarded by mu; topic name → id → subscription
}

// topicRecord is the durable record of a topic (the KV value).
type topicRecord struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Created    int64             `json:"created"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// topicState is an immutable snapshot of a topic.
type topicState struct {
	rev uint64
	rec *topicRecord
}

// subRecord is the durable record of a subscription (the KV value).
type subRecord struct {
	ID         string            `json:"id"`
	Topic      string            `json:"topic"`
	TopicID    string            `json:"topicId"`
	Protocol   string            `json:"protocol"`
	Endpoint   string            `json:"endpoint"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Pending    bool              `json:"pending,omitempty"`
	Token      string            `json:"token,omitempty"`
	Created    int64             `json:"created"`
}

// subscription is an immutable snapshot of a subscription.
type subscription struct {
	rev    uint64
	rec    *subRecord
	policy *Policy // nil: accepts everything
	scope  string
}

func (s *subscription) arn() string { return SubscriptionARN(s.rec.Topic, s.rec.ID) }

func (s *subscription) raw() bool { return s.rec.Attributes[AttrRawMessageDelivery] == "true" }

// Open loads topics and subscriptions from kv, removes subscriptions whose
// topic is gone, and creates the streams and consumers. Run must be called to
// deliver messages and keep the cache current.
func Open(ctx context.Context, cfg Config, log *slog.Logger, js jetstream.JetStream, kv jetstream.KeyValue, inv Invoker, queues *queue.Service) (*Service, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = "http://127.0.0.1:8900"
	}
	cfg.APIURL = strings.TrimSuffix(cfg.APIURL, "/")
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 15 * time.Second
	}
	if cfg.HTTPRetryDelay <= 0 {
		cfg.HTTPRetryDelay = 20 * time.Second
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	s := &Service{cfg: cfg, log: log, js: js, kv: kv, inv: inv, queues: queues, client: newClient(cfg),
		revs: map[string]uint64{}, topics: map[string]*topicState{}, subs: map[string]*subscription{},
		byTopic: map[string]map[string]*subscription{}}
	if err := s.openStreams(ctx); err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("topic: watch: %w", err)
	}
	for u := range w.Updates() {
		if u == nil {
			s.w = w
			if err := s.removeOrphans(ctx); err != nil {
				w.Stop()
				return nil, err
			}
			return s, nil
		}
		s.apply(u)
	}
	return nil, errors.New("topic: watch closed during load")
}

// newClient is the HTTP client of deliveries: no redirects, no proxy, and with
// LoopbackOnly a dialer that refuses other addresses.
func newClient(cfg Config) *http.Client {
	d := &net.Dialer{Timeout: cfg.HTTPTimeout}
	if cfg.LoopbackOnly {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("topic: %s is not a loopback address", address)
			}
			return nil
		}
	}
	t := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: cfg.HTTPTimeout, ResponseHeaderTimeout: cfg.HTTPTimeout}
	return &http.Client{Transport: t, Timeout: cfg.HTTPTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// removeOrphans deletes subscriptions whose topic incarnation no longer exists
// (DeleteTopic deletes the topic record first, then its subscriptions).
func (s *Service) removeOrphans(ctx context.Context) error {
	s.mu.RLock()
	var orphans []*subscription
	for _, sub := range s.subs {
		if t := s.topics[sub.rec.Topic]; t == nil || t.rec.ID != sub.rec.TopicID {
			orphans = append(orphans, sub)
		}
	}
	s.mu.RUnlock()
	for _, sub := range orphans {
		s.log.Info("deleting subscription of a deleted topic", "subscription", sub.arn())
		if err := s.deleteKey(ctx, subKey+sub.rec.ID); err != nil {
			return err
		}
	}
	return nil
}

// Run delivers messages and applies changes made elsewhere until ctx ends.
// Deliveries in flight when it returns are redelivered later. If the KV watch
// or a consumer fails, Run stops the others and returns the error.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.w.Stop()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, c := range []struct {
		cons   jetstream.Consumer
		n      int
		handle func(context.Context, jetstream.Msg)
	}{{s.fanoutCons, fanoutWorkers, s.fanOut}, {s.deliverCons, s.cfg.Workers, s.deliver}} {
		wg.Go(func() {
			if err := s.consume(ctx, c.cons, c.n, c.handle); err != nil {
				errc <- err
			}
		})
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			break loop
		case u, ok := <-s.w.Updates():
			if !ok {
				if ctx.Err() == nil {
					err = errors.New("topic: KV watch closed")
				}
				break loop
			}
			if u != nil {
				s.apply(u)
			}
		}
	}
	cancel()
	wg.Wait()
	return err
}

// consume runs handle for each message of cons, at most n at a time, until ctx ends.
func (s *Service) consume(ctx context.Context, cons jetstream.Consumer, n int, handle func(context.Context, jetstream.Msg)) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(n))
	if err != nil {
		return fmt.Errorf("topic: consume: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	sem := make(chan struct{}, n)
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
			for range cap(sem) { // wait for the handlers
				sem <- struct{}{}
			}
			return nil
		}
		if err != nil {
			s.log.Warn("topic consume", "err", err)
			continue
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			handle(ctx, msg)
		}()
	}
}

func (s *Service) apply(u jetstream.KeyValueEntry) {
	key := u.Key()
	put := u.Operation() == jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(key, topicKey):
		var rec *topicRecord
		if put {
			rec = new(topicRecord)
			if err := json.Unmarshal(u.Value(), rec); err != nil || topicKey+rec.Name != key {
				return // never written by this package
			}
		}
		s.storeTopic(u.Revision(), key[len(topicKey):], rec)
	case strings.HasPrefix(key, subKey):
		var rec *subRecord
		if put {
			rec = new(subRecord)
			if err := json.Unmarshal(u.Value(), rec); err != nil || subKey+rec.ID != key {
				return
			}
		}
		s.storeSub(u.Revision(), key[len(subKey):], rec)
	}
}

// newer records rev for key and reports whether it is newer than what is known.
// The caller holds mu.
func (s *Service) newerLocked(key string, rev uint64) bool {
	if s.revs[key] >= rev {
		return false
	}
	s.revs[key] = rev
	return true
}

// storeTopic applies a topic record (nil: deleted) at rev unless a later one is known.
func (s *Service) storeTopic(rev uint64, name string, rec *topicRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.newerLocked(topicKey+name, rev) {
		return
	}
	if rec == nil {
		delete(s.topics, name)
		return
	}
	s.topics[name] = &topicState{rev: rev, rec: rec}
}

// storeSub applies a subscription record (nil: deleted) at rev unless a later one is known.
func (s *Service) storeSub(rev uint64, id string, rec *subRecord) {
	var sub *subscription
	if rec != nil {
		sub = &subscription{rev: rev, rec: rec, scope: rec.Attributes[AttrFilterPolicyScope]}
		if sub.scope == "" {
			sub.scope = ScopeAttributes
		}
		p, err := ParsePolicy(rec.Attributes[AttrFilterPolicy], sub.scope)
		if err != nil {
			// Validated when written; a policy that no longer parses accepts
			// nothing (an "$or" without alternatives).
			s.log.Error("stored filter policy does not parse", "subscription", sub.arn(), "err", err)
			p = &Policy{root: &pnode{ors: [][]*pnode{{}}}}
		}
		sub.policy = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.newerLocked(subKey+id, rev) {
		return
	}
	if old := s.subs[id]; old != nil {
		delete(s.byTopic[old.rec.Topic], id)
		if len(s.byTopic[old.rec.Topic]) == 0 {
			delete(s.byTopic, old.rec.Topic)
		}
	}
	if sub == nil {
		delete(s.subs, id)
		return
	}
	s.subs[id] = sub
	m := s.byTopic[rec.Topic]
	if m == nil {
		m = map[string]*subscription{}
		s.byTopic[rec.Topic] = m
	}
	m[id] = sub
}

// topic returns the topic named by a TopicArn parameter.
func (s *Service) topic(arn, param string) (*topicState, error) {
	name, err := topicName(arn, param)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	t := s.topics[name]
	s.mu.RUnlock()
	if t == nil {
		return nil, errNoTopic()
	}
	return t, nil
}

// subscriptionsOf returns the live subscriptions of topic t.
func (s *Service) subscriptionsOf(t *topicRecord) []*subscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*subscription, 0, len(s.byTopic[t.Name]))
	for _, sub := range s.byTopic[t.Name] {
		if sub.rec.TopicID == t.ID {
			out = append(out, sub)
		}
	}
	return out
}

// subscriptionByID returns the subscription with id, or nil.
func (s *Service) subscriptionByID(id string) *subscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.subs[id]
}

// put writes a record: create (rev 0) or update at rev. It returns the new revision.
func (s *Service) put(ctx context.Context, key string, rev uint64, v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return s.kv.Create(ctx, key, b)
	}
	return s.kv.Update(ctx, key, b, rev)
}

// deleteKey deletes a record and forgets it at once (the watch brings the
// delete marker later, which then changes nothing).
func (s *Service) deleteKey(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("topic: delete %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if name, ok := strings.CutPrefix(key, topicKey); ok {
		delete(s.topics, name)
	} else if sub := s.subs[strings.TrimPrefix(key, subKey)]; sub != nil {
		delete(s.byTopic[sub.rec.Topic], sub.rec.ID)
		if len(s.byTopic[sub.rec.Topic]) == 0 {
			delete(s.byTopic, sub.rec.Topic)
		}
		delete(s.subs, sub.rec.ID)
	}
	return nil
}

// isConflict reports whether a KV write lost a race (the key exists, or its
// revision moved on).
func isConflict(err error) bool { return errors.Is(err, jetstream.ErrKeyExists) }

// internal wraps an unexpected storage error (answered as InternalError).
func internal(op string, err error) error {
	if _, ok := lambda.AsError(err); ok {
		return err
	}
	return fmt.Errorf("topic: %s: %w", op, err)
}
