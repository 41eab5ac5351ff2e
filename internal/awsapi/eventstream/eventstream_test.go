package eventstream

import (
	"bytes"
	"strings"
	"testing"

	sdkstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// TestDecodedBySDK: aws-sdk-go-v2's own decoder (which checks both CRCs)
// reads back what Writer wrote, headers and payloads intact.
func TestDecodedBySDK(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	payloads := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{0, 1, 2, 255}, 40000)}
	for _, p := range payloads {
		if err := w.Event("PayloadChunk", "application/octet-stream", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Event("InvokeComplete", "application/json", []byte(`{"ErrorCode":"Unhandled"}`)); err != nil {
		t.Fatal(err)
	}
	dec := sdkstream.NewDecoder()
	r := bytes.NewReader(buf.Bytes())
	for i := range len(payloads) + 1 {
		msg, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want, wantType := []byte(`{"ErrorCode":"Unhandled"}`), "InvokeComplete"
		if i < len(payloads) {
			want, wantType = payloads[i], "PayloadChunk"
		}
		if !bytes.Equal(msg.Payload, want) {
			t.Fatalf("message %d: payload %d bytes, want %d", i, len(msg.Payload), len(want))
		}
		if v := msg.Headers.Get(":event-type"); v == nil || v.String() != wantType {
			t.Fatalf("message %d: :event-type %v", i, v)
		}
		if v := msg.Headers.Get(":message-type"); v == nil || v.String() != "event" {
			t.Fatalf("message %d: :message-type %v", i, v)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left over", r.Len())
	}
}

// TestCorruptionDetected: a flipped bit anywhere fails the SDK's CRC checks.
func TestCorruptionDetected(t *testing.T) {
	msg, err := AppendMessage(nil, []Header{{":event-type", "PayloadChunk"}}, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{5, 14, len(msg) - 6} {
		bad := bytes.Clone(msg)
		bad[at] ^= 0x10
		if _, err := sdkstream.NewDecoder().Decode(bytes.NewReader(bad), nil); err == nil {
			t.Fatalf("corruption at byte %d not detected", at)
		}
	}
}

func TestLimits(t *testing.T) {
	if _, err := AppendMessage(nil, nil, make([]byte, MaxMessage)); err != ErrTooLarge {
		t.Fatalf("oversized payload: %v", err)
	}
	if _, err := AppendMessage(nil, []Header{{strings.Repeat("x", 256), ""}}, nil); err != ErrTooLarge {
		t.Fatalf("oversized header name: %v", err)
	}
}
