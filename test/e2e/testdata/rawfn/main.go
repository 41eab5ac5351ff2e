// Command rawfn is a minimal custom runtime (provided.al2023) for nimbus's
// benchmarks: one goroutine, one keep-alive connection to the Runtime API,
// requests written by hand and answers read with net/http's parser, and the
// event echoed back as the response. Next to aws-lambda-go (whose HTTP client
// hands every request between several goroutines), it shows how much of a warm
// invocation's latency is the platform's and how much the runtime client's.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
)

func main() {
	runtime.GOMAXPROCS(1)
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	conn, err := net.Dial("tcp", api)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	next := "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: " + api + "\r\n\r\n"
	var buf []byte
	for {
		w.WriteString(next)
		if err := w.Flush(); err != nil {
			os.Exit(1)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			os.Exit(1)
		}
		buf, err = appendAll(buf[:0], resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		w.WriteString("POST /2018-06-01/runtime/invocation/" + id + "/response HTTP/1.1\r\nHost: " + api +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(buf)) + "\r\n\r\n")
		w.Write(buf)
		if err := w.Flush(); err != nil {
			os.Exit(1)
		}
		ack, err := http.ReadResponse(r, nil)
		if err != nil {
			os.Exit(1)
		}
		io.Copy(io.Discard, ack.Body)
		ack.Body.Close()
	}
}

func appendAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
