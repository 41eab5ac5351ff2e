package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// maxTags is the most tags a queue may have.
const maxTags = 50

// CreateQueue creates a standard queue with the given attributes (unset ones
// take their defaults) and tags. Creating a queue that exists succeeds if every
// given attribute has the value the queue has, and is QueueNameExists otherwise.
func (s *Service) CreateQueue(ctx context.Context, name string, attrs, tags map[string]string) error {
	if strings.HasSuffix(name, ".fifo") {
		return Errorf(CodeUnsupportedOperation, "FIFO queues are not supported yet.")
	}
	if !ValidName(name) {
		return errInvalidParam("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	norm, err := checkAttributes(attrs, true, s.Exists)
	if err != nil {
		return err
	}
	if err := checkTags(tags, 0); err != nil {
		return err
	}
	if q, err := s.lookup(name); err == nil {
		st := q.state.Load()
		if err := sameAttributes(st.rec, norm); err != nil {
			return err
		}
		// Also repairs a stream whose creation failed after the record was written.
		return s.ensureStream(ctx, q, st.set)
	}
	now := time.Now().Unix()
	rec := &record{ID: lambda.NewHexID(8), Name: name, Created: now, Modified: now, Attributes: defaults(s.cfg.MaxMessageSize), Tags: tags}
	for k, v := range norm {
		if v != "" {
			rec.Attributes[k] = v
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	rev, err := s.kv.Create(ctx, name, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Created concurrently (KV's Create succeeds over a delete marker).
		e, gerr := s.kv.Get(ctx, name)
		if gerr != nil {
			return fmt.Errorf("queue: create %s: %w", name, gerr)
		}
		var cur record
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return fmt.Errorf("queue: decode %s: %w", name, err)
		}
		s.store(name, e.Revision(), &cur)
		return sameAttributes(&cur, norm)
	}
	if err != nil {
		return fmt.Errorf("queue: create %s: %w", name, err)
	}
	q := s.store(name, rev, rec)
	if q == nil {
		return errNoQueue() // deleted concurrently
	}
	return s.ensureStream(ctx, q, q.state.Load().set)
}

func sameAttributes(rec *record, given map[string]string) error {
	for k, v := range given {
		if rec.Attributes[k] != v && !(k == AttrFifoQueue && v == "false") {
			return Errorf(CodeQueueNameExists, "A queue already exists with the same name and a different value for attribute %s", k)
		}
	}
	return nil
}

func checkTags(tags map[string]string, have int) error {
	if len(tags)+have > maxTags {
		return errInvalidParam("Too many tags added for queue. The maximum is %d.", maxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return errInvalidParam("Tag key or value is invalid: %q.", k)
		}
	}
	return nil
}

// DeleteQueue deletes a queue and its messages.
func (s *Service) DeleteQueue(ctx context.Context, name string) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	// The record goes first: a crash between the two leaves an orphaned stream,
	// which Open deletes.
	if err := s.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("queue: delete %s: %w", name, err)
	}
	s.mu.Lock()
	if e := s.queues[name]; e.q == q {
		s.queues[name] = entry{rev: e.rev + 1} // the watch brings the marker's real revision
	}
	s.mu.Unlock()
	if err := s.js.DeleteStream(ctx, q.stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("queue: delete stream %s: %w", q.stream, err)
	}
	return nil
}

// PurgeQueue deletes every message of a queue. A queue can be purged once every
// 60 seconds; sooner is PurgeQueueInProgress.
func (s *Service) PurgeQueue(ctx context.Context, name string) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	now := time.Now()
	_, err = s.update(ctx, q, func(r *record) error {
		if now.Sub(time.UnixMilli(r.LastPurge)) < purgeInterval {
			return Errorf(CodePurgeQueueInProgress, "Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)
		}
		r.LastPurge = now.UnixMilli()
		return nil
	})
	if err != nil {
		return err
	}
	st, err := s.js.Stream(ctx, q.stream)
	if err == nil {
		err = st.Purge(ctx)
	}
	if err != nil {
		return fmt.Errorf("queue: purge %s: %w", name, err)
	}
	q.mu.Lock()
	clear(q.flights)
	q.mu.Unlock()
	return nil
}

// update applies change to a copy of the queue's record and stores it with
// compare-and-set, retrying when another writer came first. change may return
// a *lambda.Error to refuse.
func (s *Service) update(ctx context.Context, q *queue, change func(*record) error) (*qstate, error) {
	for range 16 {
		e, err := s.kv.Get(ctx, q.name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, errNoQueue()
		}
		if err != nil {
			return nil, fmt.Errorf("queue: get %s: %w", q.name, err)
		}
		var rec record
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("queue: decode %s: %w", q.name, err)
		}
		if rec.ID != q.state.Load().rec.ID {
			return nil, errNoQueue() // deleted and created again
		}
		if err := change(&rec); err != nil {
			return nil, err
		}
		b, err := json.Marshal(&rec)
		if err != nil {
			return nil, err
		}
		rev, err := s.kv.Update(ctx, q.name, b, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue: update %s: %w", q.name, err)
		}
		s.store(q.name, rev, &rec)
		return q.state.Load(), nil
	}
	return nil, fmt.Errorf("queue: update %s: too much contention", q.name)
}

// SetAttributes changes settable attributes; an empty Policy, RedrivePolicy,
// RedriveAllowPolicy or KmsMasterKeyId removes it.
func (s *Service) SetAttributes(ctx context.Context, name string, attrs map[string]string) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	norm, err := checkAttributes(attrs, false, s.Exists)
	if err != nil {
		return err
	}
	st, err := s.update(ctx, q, func(r *record) error {
		for k, v := range norm {
			if v == "" {
				delete(r.Attributes, k)
			} else {
				r.Attributes[k] = v
			}
		}
		r.Modified = time.Now().Unix()
		return nil
	})
	if err != nil {
		return err
	}
	return s.ensureStream(ctx, q, st.set)
}

// Attributes returns the named queue attributes ("All" for every one). Unknown
// names are InvalidAttributeName.
func (s *Service) Attributes(ctx context.Context, name string, names []string) (map[string]string, error) {
	q, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	st := q.state.Load()
	want := map[string]bool{}
	for _, n := range names {
		switch n {
		case AttrAll:
			for k := range st.rec.Attributes {
				want[k] = true
			}
			for _, k := range computedAttrs {
				want[k] = true
			}
		case AttrApproximateNumberOfMessages, AttrApproximateNumberOfMessagesDelayed, AttrApproximateNumberOfMessagesNotVisible,
			AttrCreatedTimestamp, AttrLastModifiedTimestamp, AttrQueueArn,
			AttrDelaySeconds, AttrMaximumMessageSize, AttrMessageRetentionPeriod, AttrReceiveMessageWaitTimeSeconds,
			AttrVisibilityTimeout, AttrPolicy, AttrRedrivePolicy, AttrRedriveAllowPolicy, AttrKmsMasterKeyID,
			AttrKmsDataKeyReusePeriodSeconds, AttrSqsManagedSseEnabled:
			want[n] = true
		case AttrFifoQueue, AttrContentBasedDeduplication, AttrDeduplicationScope, AttrFifoThroughputLimit:
			// FIFO-only attributes: a standard queue has none.
		default:
			return nil, Errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", n)
		}
	}
	out := make(map[string]string, len(want))
	for k := range want {
		if v, ok := st.rec.Attributes[k]; ok {
			out[k] = v
		}
	}
	if want[AttrQueueArn] {
		out[AttrQueueArn] = q.arn
	}
	if want[AttrCreatedTimestamp] {
		out[AttrCreatedTimestamp] = strconv.FormatInt(st.rec.Created, 10)
	}
	if want[AttrLastModifiedTimestamp] {
		out[AttrLastModifiedTimestamp] = strconv.FormatInt(st.rec.Modified, 10)
	}
	if want[AttrApproximateNumberOfMessages] || want[AttrApproximateNumberOfMessagesNotVisible] || want[AttrApproximateNumberOfMessagesDelayed] {
		c, err := s.counts(ctx, q)
		if err != nil {
			return nil, err
		}
		for k, v := range map[string]int64{AttrApproximateNumberOfMessages: c.visible,
			AttrApproximateNumberOfMessagesNotVisible: c.notVisible, AttrApproximateNumberOfMessagesDelayed: c.delayed} {
			if want[k] {
				out[k] = strconv.FormatInt(v, 10)
			}
		}
	}
	return out, nil
}

var computedAttrs = []string{AttrApproximateNumberOfMessages, AttrApproximateNumberOfMessagesDelayed,
	AttrApproximateNumberOfMessagesNotVisible, AttrCreatedTimestamp, AttrLastModifiedTimestamp, AttrQueueArn}

// msgCounts are a queue's approximate message counts.
type msgCounts struct {
	visible, notVisible, delayed int64
}

// counts derives the message counts from JetStream: not yet delivered (the
// consumer's pending count) and delivered-but-not-deleted messages (its ack
// pending count) whose visibility this node knows to have expired are visible;
// stream messages outside the consumer's subject are delayed.
func (s *Service) counts(ctx context.Context, q *queue) (msgCounts, error) {
	c, err := s.js.Consumer(ctx, q.stream, consumerName)
	if err != nil {
		return msgCounts{}, fmt.Errorf("queue: consumer info %s: %w", q.stream, err)
	}
	st, err := s.js.Stream(ctx, q.stream)
	if err != nil {
		return msgCounts{}, fmt.Errorf("queue: stream info %s: %w", q.stream, err)
	}
	ci, si := c.CachedInfo(), st.CachedInfo()
	pending, acking := int64(ci.NumPending), int64(ci.NumAckPending)
	now := time.Now().UnixMilli()
	var expired int64
	q.mu.Lock()
	for _, f := range q.flights {
		if f.deadline <= now {
			expired++
		}
	}
	q.mu.Unlock()
	expired = min(expired, acking)
	return msgCounts{
		visible:    pending + expired,
		notVisible: acking - expired,
		delayed:    max(int64(si.State.Msgs)-pending-acking, 0),
	}, nil
}

// Tags returns a queue's tags.
func (s *Service) Tags(name string) (map[string]string, error) {
	q, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return maps.Clone(q.state.Load().rec.Tags), nil
}

// Tag adds or replaces tags.
func (s *Service) Tag(ctx context.Context, name string, tags map[string]string) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, q, func(r *record) error {
		n := 0
		for k := range r.Tags {
			if _, ok := tags[k]; !ok {
				n++
			}
		}
		if err := checkTags(tags, n); err != nil {
			return err
		}
		if r.Tags == nil {
			r.Tags = map[string]string{}
		}
		maps.Copy(r.Tags, tags)
		return nil
	})
	return err
}

// Untag removes tags.
func (s *Service) Untag(ctx context.Context, name string, keys []string) error {
	q, err := s.lookup(name)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, q, func(r *record) error {
		maps.DeleteFunc(r.Tags, func(k, _ string) bool { return slices.Contains(keys, k) })
		return nil
	})
	return err
}
