package queue

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"
)

const receiptVersion = 1

// ackInfo is what a JetStream ack subject says about one delivery.
type ackInfo struct {
	stream    string
	consumer  string
	delivered uint64 // delivery count
	sseq      uint64 // stream sequence
	dseq      uint64 // consumer (delivery) sequence
}

// parseAck parses a JetStream ack subject, in either of the server's formats:
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending> or
// $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.…].
func parseAck(subject string) (ackInfo, bool) {
	rest, ok := strings.CutPrefix(subject, "$JS.ACK.")
	if !ok || len(subject) > 512 {
		return ackInfo{}, false
	}
	for i := 0; i < len(rest); i++ {
		// Only a literal subject with no empty tokens: it is published to.
		if c := rest[i]; c <= ' ' || c >= 0x7f || c == '*' || c == '>' || c == '.' && (i == 0 || i == len(rest)-1 || rest[i-1] == '.') {
			return ackInfo{}, false
		}
	}
	var tok [12]string
	n := 0
	for n < len(tok) {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			tok[n] = rest
			n++
			break
		}
		tok[n] = rest[:i]
		rest = rest[i+1:]
		n++
	}
	var t []string
	switch {
	case n == 7:
		t = tok[:7]
	case n >= 9:
		t = tok[2:9]
	default:
		return ackInfo{}, false
	}
	num := func(s string) (uint64, bool) {
		if s == "" || len(s) > 20 {
			return 0, false
		}
		var v uint64
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			v = v*10 + uint64(s[i]-'0')
		}
		return v, true
	}
	a := ackInfo{stream: t[0], consumer: t[1]}
	var ok1, ok2, ok3 bool
	a.delivered, ok1 = num(t[2])
	a.sseq, ok2 = num(t[3])
	a.dseq, ok3 = num(t[4])
	if !ok1 || !ok2 || !ok3 || a.stream == "" || a.consumer == "" || a.sseq == 0 || a.delivered == 0 {
		return ackInfo{}, false
	}
	return a, true
}

// receipt is a decoded receipt handle.
type receipt struct {
	queueID  uint64
	received time.Time
	subject  string // the ack subject of the delivery
	ack      ackInfo
}

// makeReceipt encodes a receipt handle: base64url(version ‖ queue id (8 bytes,
// big endian) ‖ receive time (uvarint unix ms) ‖ ack subject).
func makeReceipt(queueID uint64, received time.Time, subject string) string {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(subject))
	b = append(b, receiptVersion)
	b = binary.BigEndian.AppendUint64(b, queueID)
	b = binary.AppendUvarint(b, uint64(received.UnixMilli()))
	b = append(b, subject...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseReceipt decodes a receipt handle issued for queue q.
func parseReceipt(h string, q *queue) (receipt, bool) {
	if len(h) == 0 || len(h) > 1024 {
		return receipt{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || len(b) < 1+8+1 || b[0] != receiptVersion {
		return receipt{}, false
	}
	r := receipt{queueID: binary.BigEndian.Uint64(b[1:9])}
	ms, n := binary.Uvarint(b[9:])
	if n <= 0 || ms > 1<<53 {
		return receipt{}, false
	}
	r.received = time.UnixMilli(int64(ms))
	r.subject = string(b[9+n:])
	a, ok := parseAck(r.subject)
	if !ok || r.queueID != q.id || a.stream != q.stream || a.consumer != consumerName {
		return receipt{}, false
	}
	r.ack = a
	return r, true
}
