package gateway

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-lambda-go/events"
)

func TestParseStreamingPrelude(t *testing.T) {
	nul8 := string(make([]byte, 8))
	tests := []struct {
		name    string
		in      string
		want    Prelude
		body    string
		wantErr bool
	}{
		{"full", `{"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":["a=1"]}` + nul8 + "hello\x00world",
			Prelude{StatusCode: 201, Headers: map[string]string{"content-type": "text/plain"}, Cookies: []string{"a=1"}}, "hello\x00world", false},
		{"default status", `{"headers":{"a":"b"}}` + nul8 + "x", Prelude{StatusCode: 200, Headers: map[string]string{"a": "b"}}, "x", false},
		{"empty prelude", nul8 + "x", Prelude{StatusCode: 200}, "x", false},
		{"empty body", `{"statusCode":204}` + nul8, Prelude{StatusCode: 204}, "", false},
		{"body starts with NULs", `{}` + nul8 + "\x00\x00abc", Prelude{StatusCode: 200}, "\x00\x00abc", false},
		{"no delimiter", `{"statusCode":200}` + "\x00\x00\x00", Prelude{}, "", true},
		{"empty stream", ``, Prelude{}, "", true},
		{"bad json", `{"statusCode":` + nul8, Prelude{}, "", true},
		{"bad status", `{"statusCode":42}` + nul8, Prelude{}, "", true},
	}
	for _, tt := range tests {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"byte by byte", iotest.OneByteReader}, {"half", iotest.HalfReader}} {
			p, body, err := ParseStreamingPrelude(wrap.f(strings.NewReader(tt.in)))
			if tt.wantErr {
				if err == nil {
					t.Errorf("%s/%s: no error", tt.name, wrap.name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s/%s: %v", tt.name, wrap.name, err)
				continue
			}
			b, _ := io.ReadAll(body)
			if !reflect.DeepEqual(p, tt.want) || string(b) != tt.body {
				t.Errorf("%s/%s: %+v %q, want %+v %q", tt.name, wrap.name, p, b, tt.want, tt.body)
			}
		}
	}
}

func TestParseStreamingPreludeAWSLambdaGo(t *testing.T) {
	// What aws-lambda-go's streaming response writes, read back.
	resp := &events.APIGatewayProxyStreamingResponse{
		StatusCode: 418,
		Headers:    map[string]string{"Content-Type": "text/event-stream"},
		Cookies:    []string{"s=1"},
		Body:       strings.NewReader("data: 1\n\n"),
	}
	p, body, err := ParseStreamingPrelude(resp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	if p.StatusCode != 418 || p.Headers["Content-Type"] != "text/event-stream" || p.Cookies[0] != "s=1" || string(b) != "data: 1\n\n" {
		t.Errorf("got %+v %q", p, b)
	}
	if resp.ContentType() != StreamingContentType {
		t.Errorf("content type %q", resp.ContentType())
	}
}

func TestParseStreamingPreludeLimits(t *testing.T) {
	_, _, err := ParseStreamingPrelude(io.MultiReader(strings.NewReader(`{"x":"`), iotestRepeat('a')))
	if !errors.Is(err, ErrNoPrelude) {
		t.Errorf("endless prelude: %v, want ErrNoPrelude", err)
	}
	boom := errors.New("boom")
	_, _, err = ParseStreamingPrelude(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	// The body reader continues the stream without reading ahead of need.
	src := io.MultiReader(strings.NewReader("{}"+string(make([]byte, 8))+"ab"), strings.NewReader("cd"))
	_, body, err := ParseStreamingPrelude(src)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(body); !bytes.Equal(b, []byte("abcd")) {
		t.Errorf("body %q", b)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func iotestRepeat(b byte) io.Reader { return repeatReader(b) }
