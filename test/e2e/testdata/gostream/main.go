// Command gostream is a streaming Lambda function built with aws-lambda-go
// (a handler returning an io.Reader) for nimbus's streaming tests. The event's
// "mode" selects a behaviour; "barrier" is a URL the function GETs between
// its first and its later chunks (the test answers it when it has seen the
// first chunk).
package main

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	Mode    string `json:"mode"`
	Barrier string `json:"barrier"`
}

func handler(ctx context.Context, ev event) (any, error) {
	switch ev.Mode {
	case "buffered":
		return map[string]string{"answer": "buffered"}, nil
	case "fail-early":
		return nil, errors.New("failed before streaming")
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("chunk-1\n"))
		switch ev.Mode {
		case "error":
			pw.CloseWithError(errors.New("mid-stream failure"))
			return
		case "hang": // until the function times out
			select {}
		}
		if ev.Barrier != "" {
			resp, err := http.Get(ev.Barrier)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			resp.Body.Close()
		}
		pw.Write([]byte("chunk-2\n"))
		pw.Write([]byte("chunk-3\n"))
		pw.Close()
	}()
	return pr, nil
}

func main() { lambda.Start(handler) }
