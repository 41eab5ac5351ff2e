package sqsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
)

// Benchmarks of the SQS API over loopback HTTP, each with the same-run
// baseline BenchmarkLoopback: a bare httptest echo of a similar request.
// Clients are raw net/http with prebuilt bodies (what the server costs), and
// for reference the real SDK client (what a Go caller sees).

const parallelism = 16 // goroutines per CPU

func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
}

func post(c *http.Client, url, target string, body []byte) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status + ": " + string(b))
	}
	return b, err
}

func rate(b *testing.B, n int64) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkLoopback is the baseline: an HTTP round trip to a handler that
// reads the body and answers a small JSON document.
func BenchmarkLoopback(b *testing.B) {
	answer := []byte(`{"MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e","MessageId":"a5d4bc0b-8d2b-4d4c-b0a5-f58b6d43b2c5"}`)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Write(answer)
	}))
	defer hs.Close()
	c := httpClient()
	body := sendBody(hs.URL)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := post(c, hs.URL, "SendMessage", body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	rate(b, int64(b.N))
}

func sendBody(base string) []byte {
	return []byte(`{"QueueUrl":"` + base + `/000000000000/bench","MessageBody":"` + strings.Repeat("x", 200) + `"}`)
}

func benchServer(b *testing.B) (*server, string) {
	s := startServer(b, b.TempDir())
	if err := s.q.CreateQueue(b.Context(), "bench", nil, nil); err != nil {
		b.Fatal(err)
	}
	return s, s.http.URL + "/000000000000/bench"
}

// BenchmarkSendMessage: concurrent SendMessage requests.
func BenchmarkSendMessage(b *testing.B) {
	s, _ := benchServer(b)
	c := httpClient()
	body := sendBody(s.http.URL)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := post(c, s.http.URL, "SendMessage", body); err != nil {
				b.Error(err)
				return
			}
		}
	})
	rate(b, int64(b.N))
}

// BenchmarkSendMessageSDK: the same through the aws-sdk-go-v2 client.
func BenchmarkSendMessageSDK(b *testing.B) {
	s, u := benchServer(b)
	body := strings.Repeat("x", 200)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.sqs.SendMessage(b.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: &body}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	rate(b, int64(b.N))
}

func fill(b *testing.B, s *server, n int) {
	batch := make([]queue.SendInput, 10)
	for i := range batch {
		batch[i] = queue.SendInput{Body: strings.Repeat("x", 200)}
	}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				k := min(left.Add(-10)+10, 10)
				if k <= 0 {
					return
				}
				_, errs, err := s.q.SendBatch(b.Context(), "bench", batch[:k])
				if err = errors.Join(append(errs, err)...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkReceiveDelete: workers ReceiveMessage up to 10 and
// DeleteMessageBatch them; an op is one message received and deleted.
func BenchmarkReceiveDelete(b *testing.B) {
	s, u := benchServer(b)
	fill(b, s, b.N)
	c := httpClient()
	recv := []byte(`{"QueueUrl":"` + u + `","MaxNumberOfMessages":10}`)
	b.ResetTimer()
	var done atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for done.Load() < int64(b.N) {
				out, err := post(c, s.http.URL, "ReceiveMessage", recv)
				if err != nil {
					b.Error(err)
					return
				}
				var r struct {
					Messages []struct{ ReceiptHandle string }
				}
				if err := json.Unmarshal(out, &r); err != nil {
					b.Error(err)
					return
				}
				if len(r.Messages) == 0 {
					continue
				}
				type entry struct{ Id, ReceiptHandle string }
				del := struct {
					QueueUrl string
					Entries  []entry
				}{QueueUrl: u}
				for i, m := range r.Messages {
					del.Entries = append(del.Entries, entry{string(rune('a' + i)), m.ReceiptHandle})
				}
				body, _ := json.Marshal(del)
				if _, err := post(c, s.http.URL, "DeleteMessageBatch", body); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(r.Messages)))
			}
		})
	}
	wg.Wait()
	rate(b, int64(b.N))
}

// BenchmarkReceiveDeleteSDK: the same through the SDK client.
func BenchmarkReceiveDeleteSDK(b *testing.B) {
	s, u := benchServer(b)
	fill(b, s, b.N)
	b.ResetTimer()
	var done atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for done.Load() < int64(b.N) {
				out, err := s.sqs.ReceiveMessage(b.Context(), &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10})
				if err != nil {
					b.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				in := &sqs.DeleteMessageBatchInput{QueueUrl: &u}
				for i, m := range out.Messages {
					in.Entries = append(in.Entries, sqsDeleteEntry(i, m.ReceiptHandle))
				}
				if _, err := s.sqs.DeleteMessageBatch(b.Context(), in); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(out.Messages)))
			}
		})
	}
	wg.Wait()
	rate(b, int64(b.N))
}

// BenchmarkReceiveDeleteSingle: one message per ReceiveMessage and one
// DeleteMessage per message, the unbatched pattern.
func BenchmarkReceiveDeleteSingle(b *testing.B) {
	s, u := benchServer(b)
	fill(b, s, b.N)
	c := httpClient()
	recv := []byte(`{"QueueUrl":"` + u + `"}`)
	b.ResetTimer()
	var done atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for done.Load() < int64(b.N) {
				out, err := post(c, s.http.URL, "ReceiveMessage", recv)
				if err != nil {
					b.Error(err)
					return
				}
				var r struct {
					Messages []struct{ ReceiptHandle string }
				}
				json.Unmarshal(out, &r)
				for _, m := range r.Messages {
					body, _ := json.Marshal(map[string]string{"QueueUrl": u, "ReceiptHandle": m.ReceiptHandle})
					if _, err := post(c, s.http.URL, "DeleteMessage", body); err != nil {
						b.Error(err)
						return
					}
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	rate(b, int64(b.N))
}

func sqsDeleteEntry(i int, h *string) sqstypes.DeleteMessageBatchRequestEntry {
	return sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(string(rune('a' + i))), ReceiptHandle: h}
}
