package queue

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Attribute is one message attribute: user metadata sent with a message.
type Attribute struct {
	Name string
	// DataType is String, Number or Binary, optionally followed by ".label".
	DataType string
	// StringValue holds String and Number values, BinaryValue Binary ones.
	StringValue string
	BinaryValue []byte
}

// IsBinary reports whether the attribute's value is in BinaryValue.
func (a *Attribute) IsBinary() bool { return baseType(a.DataType) == "Binary" }

func baseType(dataType string) string {
	if i := strings.IndexByte(dataType, '.'); i >= 0 {
		return dataType[:i]
	}
	return dataType
}

func (a *Attribute) value() []byte {
	if a.IsBinary() {
		return a.BinaryValue
	}
	return []byte(a.StringValue)
}

// size is what the attribute counts against MaximumMessageSize.
func (a *Attribute) size() int {
	if a.IsBinary() {
		return len(a.Name) + len(a.DataType) + len(a.BinaryValue)
	}
	return len(a.Name) + len(a.DataType) + len(a.StringValue)
}

const maxAttributes = 10

// checkMessageAttributes validates message attributes the way SQS does and sorts them
// by name (the order of AWS's MD5 encoding).
func checkMessageAttributes(attrs []Attribute) error {
	if len(attrs) > maxAttributes {
		return errInvalidParam("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(attrs), maxAttributes)
	}
	slices.SortFunc(attrs, func(a, b Attribute) int { return strings.Compare(a.Name, b.Name) })
	for i := range attrs {
		a := &attrs[i]
		if i > 0 && attrs[i-1].Name == a.Name {
			return errInvalidParam("Message (user) attribute name %s is specified more than once.", a.Name)
		}
		if err := checkAttributeName(a.Name); err != nil {
			return err
		}
		if a.DataType == "" {
			return errInvalidParam("The message attribute '%s' must contain non-empty message attribute type.", a.Name)
		}
		if len(a.DataType) > 256 || !validText(a.DataType) {
			return errInvalidParam("The message attribute '%s' has an invalid message attribute type.", a.Name)
		}
		switch baseType(a.DataType) {
		case "String":
			if a.StringValue == "" {
				return errInvalidParam("The message attribute '%s' with type 'String' must use field 'String'.", a.Name)
			}
			if !validText(a.StringValue) {
				return Errorf(CodeInvalidMessageContents, "Invalid characters found in the message attribute '%s'.", a.Name)
			}
		case "Number":
			if !validNumber(a.StringValue) {
				return errInvalidParam("Can't cast the value of message (user) attribute '%s' to a number.", a.Name)
			}
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return errInvalidParam("The message attribute '%s' with type 'Binary' must use field 'Binary'.", a.Name)
			}
		default:
			return errInvalidParam("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", a.Name)
		}
	}
	return nil
}

func checkAttributeName(name string) error {
	bad := func(reason string) error {
		return errInvalidParam("Message (user) attribute name '%s' is invalid. %s", name, reason)
	}
	if name == "" || len(name) > 256 {
		return bad("The attribute name must be between 1 and 256 characters long.")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return bad("The attribute name can contain only alphanumeric characters, hyphens (-), underscores (_) and periods (.).")
		}
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon."):
		return bad("The attribute name must not start with the reserved prefixes 'AWS.' or 'Amazon.'.")
	case name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, ".."):
		return bad("The attribute name must not start or end with a period, or contain two successive periods.")
	}
	return nil
}

// validNumber accepts what SQS accepts as a Number: a decimal with an optional
// sign, fraction and exponent, at most 38 significant digits.
func validNumber(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	i, digits, sig := 0, 0, 0
	if s[i] == '+' || s[i] == '-' {
		i++
	}
	leading := true
	mantissa := func() {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			digits++
			if s[i] != '0' || !leading {
				leading = false
				sig++
			}
			i++
		}
	}
	mantissa()
	if i < len(s) && s[i] == '.' {
		i++
		mantissa()
	}
	if digits == 0 || sig > 38 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// validText reports whether s has only the characters SQS allows in a message:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func validText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r >= 0xD800 && r < 0xE000 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// encodeAttributes appends attrs (sorted by name) in AWS's MD5OfMessageAttributes
// encoding, which is also how they are stored: for each attribute the name, the
// data type, a transport byte (1 string, 2 binary) and the value, each of the
// three strings preceded by its length as a 4-byte big-endian integer.
func encodeAttributes(dst []byte, attrs []Attribute) []byte {
	for i := range attrs {
		a := &attrs[i]
		dst = appendLV(dst, []byte(a.Name))
		dst = appendLV(dst, []byte(a.DataType))
		if a.IsBinary() {
			dst = append(dst, 2)
		} else {
			dst = append(dst, 1)
		}
		dst = appendLV(dst, a.value())
	}
	return dst
}

func appendLV(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

var errCorrupt = errors.New("queue: corrupt stored message attributes")

// decodeAttributes reverses encodeAttributes.
func decodeAttributes(b []byte) ([]Attribute, error) {
	var out []Attribute
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(n) {
			return nil, false
		}
		v := b[4 : 4+n]
		b = b[4+n:]
		return v, true
	}
	for len(b) > 0 {
		name, ok1 := next()
		typ, ok2 := next()
		if !ok1 || !ok2 || len(b) < 1 {
			return nil, errCorrupt
		}
		transport := b[0]
		b = b[1:]
		val, ok := next()
		if !ok {
			return nil, errCorrupt
		}
		a := Attribute{Name: string(name), DataType: string(typ)}
		if transport == 2 {
			a.BinaryValue = slices.Clone(val)
		} else {
			a.StringValue = string(val)
		}
		out = append(out, a)
	}
	return out, nil
}

// AttributesMD5 is MD5OfMessageAttributes of attrs, which must be sorted by name;
// "" when there are none.
func AttributesMD5(attrs []Attribute) string {
	if len(attrs) == 0 {
		return ""
	}
	return md5Hex(encodeAttributes(make([]byte, 0, 256), attrs))
}

// traceMD5 is MD5OfMessageSystemAttributes for an AWSTraceHeader value.
func traceMD5(trace string) string {
	if trace == "" {
		return ""
	}
	return AttributesMD5([]Attribute{{Name: "AWSTraceHeader", DataType: "String", StringValue: trace}})
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// Message is one received message.
type Message struct {
	ID            string
	ReceiptHandle string
	Body          string
	MD5OfBody     string
	// Attributes are the message attributes, sorted by name; MD5OfAttributes is
	// their MD5OfMessageAttributes ("" when there are none).
	Attributes      []Attribute
	MD5OfAttributes string

	// System attributes.
	SenderID      string
	SentTimestamp time.Time
	ReceiveCount  int
	// FirstReceive is ApproximateFirstReceiveTimestamp: exact when this node
	// made the first receive since it started, else the earliest receive of
	// the message this node has seen.
	FirstReceive   time.Time
	TraceHeader    string // AWSTraceHeader, "" if none
	GroupID        string // MessageGroupId, "" if none
	DeadLetterFrom string // DeadLetterQueueSourceArn: the queue it was moved from, "" if none
}
