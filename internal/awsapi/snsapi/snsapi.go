// Package snsapi serves the Amazon SNS API in the AWS query protocol that the
// SDKs (aws-sdk-go-v2 service/sns included) and the AWS CLI speak: POST / with
// a form-encoded body "Action=<Op>&Version=2010-03-31&…" (GET / with the same
// parameters in the URL also works, which is how SubscribeURL and
// UnsubscribeURL are followed), answered with XML in the namespace
// http://sns.amazonaws.com/doc/2010-03-31/. It only decodes, calls the topic
// service (events/topic) and encodes.
//
// Lists are "Name.member.N…", maps "Name.entry.N.key"/"…value" (message
// attributes "…entry.N.Name"/"…entry.N.Value.DataType|StringValue|BinaryValue"),
// N from 1. An answer is <OpResponse><OpResult>…</OpResult><ResponseMetadata>
// <RequestId>…</RequestId></ResponseMetadata></OpResponse>.
//
// Errors travel as *lambda.Error carrying the SNS error code (NotFound,
// InvalidParameter, …); they are written once, in writeError, as
// <ErrorResponse><Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…
// </Message></Error><RequestId>…</RequestId></ErrorResponse> with the code's
// HTTP status. Internal errors are logged and answered 500 InternalError
// without their text.
package snsapi

import (
	"bytes"
	"encoding/xml"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/events/topic"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Namespace is the XML namespace of every SNS answer.
const Namespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// MaxBody bounds a request body: a PublishBatch of 256 KiB, form-encoded, fits.
const MaxBody = 4 << 20

// API is the SNS API handler.
type API struct {
	log *slog.Logger
	t   *topic.Service
	ops map[string]op
}

// op serves one action. It returns the writer of the action's result element
// contents, or nil for actions whose answer has no result element.
type op func(r *http.Request, p params) (func(*xmlw), error)

// New returns the API over the topic service.
func New(log *slog.Logger, t *topic.Service) *API {
	a := &API{log: log, t: t}
	a.ops = map[string]op{
		"CreateTopic":               a.createTopic,
		"DeleteTopic":               a.deleteTopic,
		"ListTopics":                a.listTopics,
		"GetTopicAttributes":        a.getTopicAttributes,
		"SetTopicAttributes":        a.setTopicAttributes,
		"Subscribe":                 a.subscribe,
		"ConfirmSubscription":       a.confirmSubscription,
		"Unsubscribe":               a.unsubscribe,
		"ListSubscriptions":         a.listSubscriptions,
		"ListSubscriptionsByTopic":  a.listSubscriptionsByTopic,
		"GetSubscriptionAttributes": a.getSubscriptionAttributes,
		"SetSubscriptionAttributes": a.setSubscriptionAttributes,
		"Publish":                   a.publish,
		"PublishBatch":              a.publishBatch,
		"TagResource":               a.tagResource,
		"UntagResource":             a.untagResource,
		"ListTagsForResource":       a.listTagsForResource,
		"GetDataProtectionPolicy":   a.getDataProtectionPolicy,
		"PutDataProtectionPolicy":   a.putDataProtectionPolicy,
	}
	return a
}

// Handler returns the handler for query-protocol requests (see IsQuery).
func (a *API) Handler() http.Handler { return a }

// IsQuery reports whether r is an AWS query-protocol request: no X-Amz-Target,
// and either a POST with a form-encoded body or a GET with an Action parameter.
func IsQuery(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	switch r.Method {
	case http.MethodPost:
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		return mt == "application/x-www-form-urlencoded"
	case http.MethodGet:
		return r.URL.Query().Has("Action")
	}
	return false
}

// ServeHTTP serves one SNS request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r)
	if err != nil {
		a.writeError(w, err)
		return
	}
	action := p.get("Action")
	f := a.ops[action]
	if f == nil {
		msg := "The action " + action + " is not valid for this web service."
		if action == "" {
			msg = "The request must contain the parameter Action."
		}
		a.writeError(w, topic.Errorf(codeInvalidAction, "%s", msg))
		return
	}
	result, err := f(r, p)
	if err != nil && r.Context().Err() != nil {
		return // the client has gone
	}
	if err != nil {
		a.writeError(w, err)
		return
	}
	x := &xmlw{}
	x.WriteString(`<` + action + `Response xmlns="` + Namespace + `">`)
	if result != nil {
		x.open(action + "Result")
		result(x)
		x.close(action + "Result")
	}
	id := lambda.NewRequestID()
	x.open("ResponseMetadata")
	x.elem("RequestId", id)
	x.close("ResponseMetadata")
	x.close(action + "Response")
	write(w, http.StatusOK, id, x.Bytes())
}

// readParams collects the parameters of the URL and of a form-encoded body.
func readParams(r *http.Request) (params, error) {
	p := params(r.URL.Query())
	if r.Method != http.MethodPost {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, topic.Errorf(topic.CodeValidation, "The request body could not be read.")
	}
	if len(body) > MaxBody {
		return nil, &lambda.Error{Code: codeRequestTooLarge, Status: http.StatusRequestEntityTooLarge,
			Message: "Request must be smaller than " + strconv.Itoa(MaxBody) + " bytes."}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, topic.Errorf(codeMalformedQueryString, "The request body is not a valid form-encoded query string.")
	}
	for k, v := range form {
		p[k] = append(p[k], v...)
	}
	return p, nil
}

// Error codes this package adds to the topic package's.
const (
	codeInvalidAction        = "InvalidAction"
	codeMalformedQueryString = "MalformedQueryString"
	codeRequestTooLarge      = "RequestEntityTooLarge"
)

// writeError writes err in SNS's XML error shape.
func (a *API) writeError(w http.ResponseWriter, err error) {
	e, ok := lambda.AsError(err)
	if !ok {
		a.log.Error("sns: internal error", "err", err)
		e = &lambda.Error{Code: topic.CodeInternalError, Status: http.StatusInternalServerError, Message: "Internal Error"}
	}
	fault := "Sender"
	if e.Status >= 500 {
		fault = "Receiver"
	}
	id := lambda.NewRequestID()
	x := &xmlw{}
	x.WriteString(`<ErrorResponse xmlns="` + Namespace + `">`)
	x.open("Error")
	x.elem("Type", fault)
	x.elem("Code", e.Code)
	x.elem("Message", e.Message)
	x.close("Error")
	x.elem("RequestId", id)
	x.close("ErrorResponse")
	write(w, e.Status, id, x.Bytes())
}

func write(w http.ResponseWriter, status int, requestID string, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"text/xml"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Amzn-Requestid"] = []string{requestID}
	w.WriteHeader(status)
	w.Write(body)
}

// xmlw builds an XML answer.
type xmlw struct{ bytes.Buffer }

func (x *xmlw) open(name string)  { x.WriteString("<" + name + ">") }
func (x *xmlw) close(name string) { x.WriteString("</" + name + ">") }

// elem writes <name>text</name>, text escaped.
func (x *xmlw) elem(name, text string) {
	x.open(name)
	xml.EscapeText(x, []byte(text))
	x.close(name)
}

// attributes writes a string map as <name><entry><key/><value/></entry>…</name>, by key.
func (x *xmlw) attributes(name string, m map[string]string) {
	x.open(name)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		x.open("entry")
		x.elem("key", k)
		x.elem("value", m[k])
		x.close("entry")
	}
	x.close(name)
}

// params are a request's query parameters.
type params url.Values

func (p params) get(key string) string {
	if v := p[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p params) has(key string) bool { return len(p[key]) > 0 }

// required returns a required parameter; member is its name in AWS's
// validation message (lower camel case).
func (p params) required(key, member string) (string, error) {
	if !p.has(key) {
		return "", topic.Errorf(topic.CodeValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	return p.get(key), nil
}

// indices returns the distinct N of parameters "<prefix>.N" and
// "<prefix>.N.…", in order.
func (p params) indices(prefix string) []int {
	var out []int
	for k := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 || strconv.Itoa(i) != n {
			continue
		}
		out = append(out, i)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// members returns the list "<prefix>.member.N".
func (p params) members(prefix string) []string {
	var out []string
	for _, i := range p.indices(prefix + ".member") {
		out = append(out, p.get(prefix+".member."+strconv.Itoa(i)))
	}
	return out
}

// entries returns the map "<prefix>.entry.N.key" → "….value".
func (p params) entries(prefix string) map[string]string {
	return p.pairs(prefix+".entry", "key", "value")
}

// tags returns the tag list "<prefix>.member.N.Key" / "….Value" as a map.
func (p params) tags(prefix string) map[string]string {
	return p.pairs(prefix+".member", "Key", "Value")
}

// pairs returns the map "<list>.N.<key>" → "<list>.N.<value>"; nil if the
// list is empty.
func (p params) pairs(list, key, value string) map[string]string {
	idx := p.indices(list)
	if len(idx) == 0 {
		return nil
	}
	out := make(map[string]string, len(idx))
	for _, i := range idx {
		e := list + "." + strconv.Itoa(i) + "."
		out[p.get(e+key)] = p.get(e + value)
	}
	return out
}

// messageAttributes returns the message attribute map at prefix
// ("<prefix>.entry.N.Name", "….Value.DataType|StringValue|BinaryValue").
func (p params) messageAttributes(prefix string) ([]topic.Attribute, error) {
	var out []topic.Attribute
	for _, i := range p.indices(prefix + ".entry") {
		e := prefix + ".entry." + strconv.Itoa(i) + "."
		a := topic.Attribute{Name: p.get(e + "Name"), DataType: p.get(e + "Value.DataType"), StringValue: p.get(e + "Value.StringValue")}
		if b := p.get(e + "Value.BinaryValue"); b != "" {
			v, err := decodeBase64(b)
			if err != nil {
				return nil, topic.Errorf(topic.CodeInvalidParameterValue, "The message attribute '%s' has an invalid Base64-encoded binary value.", a.Name)
			}
			a.BinaryValue = v
		}
		out = append(out, a)
	}
	return out, nil
}
