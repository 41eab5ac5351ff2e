package queue

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Queue attribute names (the API's QueueAttributeName values).
const (
	AttrAll                                   = "All"
	AttrApproximateNumberOfMessages           = "ApproximateNumberOfMessages"
	AttrApproximateNumberOfMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	AttrApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	AttrCreatedTimestamp                      = "CreatedTimestamp"
	AttrLastModifiedTimestamp                 = "LastModifiedTimestamp"
	AttrQueueArn                              = "QueueArn"
	AttrDelaySeconds                          = "DelaySeconds"
	AttrMaximumMessageSize                    = "MaximumMessageSize"
	AttrMessageRetentionPeriod                = "MessageRetentionPeriod"
	AttrReceiveMessageWaitTimeSeconds         = "ReceiveMessageWaitTimeSeconds"
	AttrVisibilityTimeout                     = "VisibilityTimeout"
	AttrPolicy                                = "Policy"
	AttrRedrivePolicy                         = "RedrivePolicy"
	AttrRedriveAllowPolicy                    = "RedriveAllowPolicy"
	AttrKmsMasterKeyID                        = "KmsMasterKeyId"
	AttrKmsDataKeyReusePeriodSeconds          = "KmsDataKeyReusePeriodSeconds"
	AttrSqsManagedSseEnabled                  = "SqsManagedSseEnabled"
	AttrFifoQueue                             = "FifoQueue"
	AttrContentBasedDeduplication             = "ContentBasedDeduplication"
	AttrDeduplicationScope                    = "DeduplicationScope"
	AttrFifoThroughputLimit                   = "FifoThroughputLimit"
)

// Limits of SQS standard queues.
const (
	// MaxMessageSizeLimit is the largest MaximumMessageSize a queue may have (1 MiB,
	// AWS's limit since 2025) and the most a batch may carry in total.
	MaxMessageSizeLimit = 1 << 20
	// DefaultMaxMessageSize is MaximumMessageSize when a queue is created without one.
	DefaultMaxMessageSize = 256 << 10
	// MaxVisibilityTimeout bounds a message's total invisibility after one receive.
	MaxVisibilityTimeout = 12 * time.Hour
	// MaxWaitTime bounds ReceiveMessage long polling.
	MaxWaitTime = 20 * time.Second
	// MaxDelay bounds DelaySeconds.
	MaxDelay = 15 * time.Minute
	// MaxBatch is the most entries one batch request may have, and the most
	// messages one receive returns.
	MaxBatch = 10
)

var queueNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,80}$`)

// ValidName reports whether name is a valid standard queue name.
func ValidName(name string) bool { return queueNameRE.MatchString(name) }

// ARN returns the ARN of the queue named name.
func ARN(name string) string {
	return "arn:aws:sqs:" + lambda.Region + ":" + lambda.Account + ":" + name
}

// NameFromARN returns the queue name an ARN of this installation's account and
// region names.
func NameFromARN(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, "arn:aws:sqs:"+lambda.Region+":"+lambda.Account+":")
	if !ok || !ValidName(name) {
		return "", false
	}
	return name, true
}

// settings are a queue's attributes parsed for use.
type settings struct {
	visibility time.Duration
	retention  time.Duration
	delay      time.Duration
	wait       time.Duration
	maxSize    int
	redrive    *redrivePolicy
}

type redrivePolicy struct {
	target          string // dead-letter queue name
	maxReceiveCount int
}

// defaults are the settable attributes of a queue created without them.
func defaults(maxSize int) map[string]string {
	return map[string]string{
		AttrVisibilityTimeout:             "30",
		AttrMessageRetentionPeriod:        "345600",
		AttrDelaySeconds:                  "0",
		AttrReceiveMessageWaitTimeSeconds: "0",
		AttrMaximumMessageSize:            strconv.Itoa(maxSize),
		AttrSqsManagedSseEnabled:          "true",
	}
}

// parseSettings reads stored (already validated) attributes.
func parseSettings(attrs map[string]string) settings {
	sec := func(k string) time.Duration {
		n, _ := strconv.Atoi(attrs[k])
		return time.Duration(n) * time.Second
	}
	s := settings{
		visibility: sec(AttrVisibilityTimeout),
		retention:  sec(AttrMessageRetentionPeriod),
		delay:      sec(AttrDelaySeconds),
		wait:       sec(AttrReceiveMessageWaitTimeSeconds),
	}
	s.maxSize, _ = strconv.Atoi(attrs[AttrMaximumMessageSize])
	if rp := attrs[AttrRedrivePolicy]; rp != "" {
		if p, err := parseRedrive(rp); err == nil {
			s.redrive = p
		}
	}
	return s
}

// intRange describes an integer attribute's valid values.
type intRange struct{ min, max int }

var intAttrs = map[string]intRange{
	AttrDelaySeconds:                  {0, int(MaxDelay / time.Second)},
	AttrMaximumMessageSize:            {1024, MaxMessageSizeLimit},
	AttrMessageRetentionPeriod:        {60, 1209600},
	AttrReceiveMessageWaitTimeSeconds: {0, int(MaxWaitTime / time.Second)},
	AttrVisibilityTimeout:             {0, int(MaxVisibilityTimeout / time.Second)},
	AttrKmsDataKeyReusePeriodSeconds:  {60, 86400},
}

// checkAttributes validates attributes given to CreateQueue (create) or
// SetQueueAttributes and returns them normalized: integers without leading
// zeros, RedrivePolicy in AWS's canonical JSON. exists reports whether a queue
// exists (for the dead-letter target).
func checkAttributes(in map[string]string, create bool, exists func(name string) bool) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch k {
		case AttrDelaySeconds, AttrMaximumMessageSize, AttrMessageRetentionPeriod,
			AttrReceiveMessageWaitTimeSeconds, AttrVisibilityTimeout, AttrKmsDataKeyReusePeriodSeconds:
			r := intAttrs[k]
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < r.min || n > r.max {
				return nil, Errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", k)
			}
			out[k] = strconv.Itoa(n)
		case AttrSqsManagedSseEnabled:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, Errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", k)
			}
			out[k] = strconv.FormatBool(b)
		case AttrPolicy, AttrRedriveAllowPolicy:
			if v != "" && !json.Valid([]byte(v)) {
				return nil, Errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", k)
			}
			out[k] = v
		case AttrKmsMasterKeyID:
			out[k] = v
		case AttrRedrivePolicy:
			if v == "" {
				out[k] = ""
				continue
			}
			p, err := parseRedrive(v)
			if err != nil {
				return nil, err
			}
			if !exists(p.target) {
				return nil, errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not exist.", v)
			}
			out[k] = p.String()
		case AttrFifoQueue:
			if !create {
				return nil, Errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
			}
			if b, err := strconv.ParseBool(v); err != nil {
				return nil, Errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", k)
			} else if b {
				return nil, Errorf(CodeUnsupportedOperation, "FIFO queues are not supported yet.")
			}
		case AttrContentBasedDeduplication, AttrDeduplicationScope, AttrFifoThroughputLimit:
			return nil, Errorf(CodeInvalidAttributeName, "You can specify the %s only when FifoQueue is set to true.", k)
		default:
			return nil, Errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
		}
	}
	return out, nil
}

// parseRedrive parses a RedrivePolicy; maxReceiveCount may be a number or a string.
func parseRedrive(v string) (*redrivePolicy, error) {
	var raw struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	bad := func(reason string) error {
		return errInvalidParam("Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, bad("Redrive policy is not a valid JSON map.")
	}
	if raw.Target == "" {
		return nil, bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	if len(raw.Max) == 0 {
		return nil, bad("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
	}
	name, ok := NameFromARN(raw.Target)
	if !ok {
		return nil, bad("Invalid value for deadLetterTargetArn.")
	}
	m := string(bytes.Trim(raw.Max, `"`))
	n, err := strconv.Atoi(m)
	if err != nil || n < 1 || n > 1000 {
		return nil, bad("Invalid value for maxReceiveCount: " + m + ", valid values are from 1 to 1000 both inclusive.")
	}
	return &redrivePolicy{target: name, maxReceiveCount: n}, nil
}

// String is the policy as GetQueueAttributes shows it.
func (p *redrivePolicy) String() string {
	return `{"deadLetterTargetArn":"` + ARN(p.target) + `","maxReceiveCount":` + strconv.Itoa(p.maxReceiveCount) + `}`
}
