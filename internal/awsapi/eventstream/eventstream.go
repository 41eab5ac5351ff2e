// Package eventstream encodes the AWS event stream binary format
// (application/vnd.amazon.eventstream), the body of InvokeWithResponseStream.
//
// A message is a prelude (total length, headers length, both big-endian
// uint32, then the CRC32 of those 8 bytes), the headers, the payload and the
// CRC32 (IEEE) of everything before it. Headers here are always strings (type
// 7): a one-byte name length, the name, the type byte, a big-endian uint16
// value length and the value. Writer emits events (":message-type" event,
// ":event-type", ":content-type"); it does not flush: the caller does after
// each event it wants the client to see now.
package eventstream

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// Limits of the format (AWS's decoders refuse larger messages).
const (
	MaxMessage = 16 << 20
	MaxHeaders = 128 << 10
)

// ErrTooLarge is returned for a message over MaxMessage or headers over MaxHeaders.
var ErrTooLarge = errors.New("eventstream: message too large")

// Header is one string-valued header.
type Header struct{ Name, Value string }

const typeString = 7

// AppendMessage appends one encoded message to dst.
func AppendMessage(dst []byte, headers []Header, payload []byte) ([]byte, error) {
	hlen := 0
	for _, h := range headers {
		if len(h.Name) == 0 || len(h.Name) > 255 || len(h.Value) > 65535 {
			return dst, ErrTooLarge
		}
		hlen += 1 + len(h.Name) + 1 + 2 + len(h.Value)
	}
	total := 12 + hlen + len(payload) + 4
	if hlen > MaxHeaders || total > MaxMessage {
		return dst, ErrTooLarge
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	for _, h := range headers {
		dst = append(dst, byte(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = append(dst, typeString)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:])), nil
}

// Writer writes event messages to an io.Writer, one Write per message.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Event writes one event message of type eventType whose payload has contentType.
func (w *Writer) Event(eventType, contentType string, payload []byte) error {
	var err error
	w.buf, err = AppendMessage(w.buf[:0], []Header{
		{":event-type", eventType},
		{":content-type", contentType},
		{":message-type", "event"},
	}, payload)
	if err != nil {
		return err
	}
	_, err = w.w.Write(w.buf)
	return err
}
