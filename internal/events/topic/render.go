package topic

import (
	"bytes"
	"encoding/json"
	"time"
)

// timeFormat is the Timestamp format of SNS messages.
const timeFormat = "2006-01-02T15:04:05.000Z"

// signature stands in for the message signature: nimbus does not sign
// messages yet (it is valid base64, of "nimbus-unsigned").
const signature = "bmltYnVzLXVuc2lnbmVk"

// attrValue is a message attribute as envelopes and SNS events show it.
type attrValue struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// envelopeJSON is the JSON document SNS delivers to queues and HTTP/S
// endpoints (fields in AWS's order).
type envelopeJSON struct {
	Type              string               `json:"Type"`
	MessageID         string               `json:"MessageId"`
	Token             string               `json:"Token,omitempty"`
	TopicArn          string               `json:"TopicArn"`
	Subject           string               `json:"Subject,omitempty"`
	Message           string               `json:"Message"`
	SubscribeURL      string               `json:"SubscribeURL,omitempty"`
	Timestamp         string               `json:"Timestamp"`
	SignatureVersion  string               `json:"SignatureVersion"`
	Signature         string               `json:"Signature"`
	SigningCertURL    string               `json:"SigningCertURL"`
	UnsubscribeURL    string               `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]attrValue `json:"MessageAttributes,omitempty"`
}

// snsEvent is the event a function subscribed to a topic receives
// (aws-lambda-go's events.SNSEvent).
type snsEvent struct {
	Records []snsEventRecord `json:"Records"`
}

type snsEventRecord struct {
	EventSource          string    `json:"EventSource"`
	EventVersion         string    `json:"EventVersion"`
	EventSubscriptionArn string    `json:"EventSubscriptionArn"`
	Sns                  snsEntity `json:"Sns"`
}

type snsEntity struct {
	Type              string               `json:"Type"`
	MessageID         string               `json:"MessageId"`
	TopicArn          string               `json:"TopicArn"`
	Subject           *string              `json:"Subject"` // null without one
	Message           string               `json:"Message"`
	Timestamp         string               `json:"Timestamp"`
	SignatureVersion  string               `json:"SignatureVersion"`
	Signature         string               `json:"Signature"`
	SigningCertURL    string               `json:"SigningCertUrl"`
	UnsubscribeURL    string               `json:"UnsubscribeUrl"`
	MessageAttributes map[string]attrValue `json:"MessageAttributes"`
}

func (d *delivery) timestamp() string { return time.UnixMilli(d.Timestamp).UTC().Format(timeFormat) }

func (d *delivery) sigVersion() string {
	if d.SigVer == "" {
		return "1"
	}
	return d.SigVer
}

func (d *delivery) attributes() map[string]attrValue {
	m := make(map[string]attrValue, len(d.Attrs))
	for i := range d.Attrs {
		a := &d.Attrs[i]
		m[a.Name] = attrValue{Type: a.DataType, Value: a.wireValue()}
	}
	return m
}

// SubscribeURL, UnsubscribeURL and SigningCertURL point at the API (the
// topic and subscription ARNs and tokens need no escaping in a query).
func (s *Service) subscribeURL(d *delivery) string {
	return s.cfg.APIURL + "/?Action=ConfirmSubscription&TopicArn=" + ARN(d.Topic) + "&Token=" + d.Token
}

func (s *Service) unsubscribeURL(d *delivery) string {
	return s.cfg.APIURL + "/?Action=Unsubscribe&SubscriptionArn=" + SubscriptionARN(d.Topic, d.Sub)
}

func (s *Service) signingCertURL() string {
	return s.cfg.APIURL + "/SimpleNotificationService-nimbus.pem"
}

// envelope is the JSON document of a delivery to a queue or an HTTP/S endpoint.
func (s *Service) envelope(d *delivery) string {
	e := envelopeJSON{Type: d.Type, MessageID: d.ID, TopicArn: ARN(d.Topic), Subject: d.Subject, Message: d.Message,
		Timestamp: d.timestamp(), SignatureVersion: d.sigVersion(), Signature: signature, SigningCertURL: s.signingCertURL()}
	switch d.Type {
	case TypeSubscriptionConfirmation:
		e.Token, e.SubscribeURL = d.Token, s.subscribeURL(d)
	default:
		e.UnsubscribeURL = s.unsubscribeURL(d)
		if len(d.Attrs) > 0 {
			e.MessageAttributes = d.attributes()
		}
	}
	return string(marshal(e))
}

// lambdaEvent is the SNS event of a delivery to a function.
func (s *Service) lambdaEvent(d *delivery) []byte {
	var subject *string
	if d.Subject != "" {
		subject = &d.Subject
	}
	return marshal(snsEvent{Records: []snsEventRecord{{
		EventSource:          "aws:sns",
		EventVersion:         "1.0",
		EventSubscriptionArn: SubscriptionARN(d.Topic, d.Sub),
		Sns: snsEntity{Type: d.Type, MessageID: d.ID, TopicArn: ARN(d.Topic), Subject: subject, Message: d.Message,
			Timestamp: d.timestamp(), SignatureVersion: d.sigVersion(), Signature: signature,
			SigningCertURL: s.signingCertURL(), UnsubscribeURL: s.unsubscribeURL(d), MessageAttributes: d.attributes()},
	}}})
}

// marshal encodes v without HTML escaping (messages stay as published).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
