package lambda

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"
)

// NewRequestID returns a random UUID (version 4), the form of Lambda request ids.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return FormatUUID(b, 4)
}

// FormatUUID returns b as a UUID of the given version (4 random, 8 custom;
// RFC 9562): it sets the version and variant bits and writes the canonical
// 8-4-4-4-12 hex form.
func FormatUUID(b [16]byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// NewTraceID returns an X-Ray trace header value for a new, unsampled trace.
func NewTraceID(now time.Time) string {
	var b [20]byte
	rand.Read(b[:])
	return "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + hex.EncodeToString(b[:12]) +
		";Parent=" + hex.EncodeToString(b[12:]) + ";Sampled=0"
}

// NewHexID returns n random bytes in hex.
func NewHexID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
