package queue

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkSend: concurrent in-process SendMessage (JetStream stores each
// before Send returns).
func BenchmarkSend(b *testing.B) {
	s, _ := start(b, b.TempDir())
	if err := s.CreateQueue(b.Context(), "bench", nil, nil); err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 200)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(b.Context(), "bench", SendInput{Body: body, SenderID: "AKID"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSendBatch: SendMessageBatch of 10; an op is one message.
func BenchmarkSendBatch(b *testing.B) {
	s, _ := start(b, b.TempDir())
	if err := s.CreateQueue(b.Context(), "bench", nil, nil); err != nil {
		b.Fatal(err)
	}
	batch := make([]SendInput, 10)
	for i := range batch {
		batch[i] = SendInput{Body: strings.Repeat("x", 200)}
	}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, errs, err := s.SendBatch(b.Context(), "bench", batch); err != nil || errors.Join(errs...) != nil {
				b.Error(err)
				return
			}
			n.Add(10)
		}
	})
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReceiveDelete: concurrent receivers take up to 10 messages and
// delete them in one batch; an op is one message received and deleted.
func BenchmarkReceiveDelete(b *testing.B) {
	for _, workers := range []int{1, 8, 32} {
		b.Run(fmt.Sprint("workers=", workers), func(b *testing.B) {
			s, _ := start(b, b.TempDir())
			ctx := b.Context()
			if err := s.CreateQueue(ctx, "bench", nil, nil); err != nil {
				b.Fatal(err)
			}
			fill(b, s, b.N)
			b.ResetTimer()
			var done atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for done.Load() < int64(b.N) {
						ms, err := s.Receive(ctx, "bench", ReceiveOptions{Max: 10})
						if err != nil {
							b.Error(err)
							return
						}
						h := make([]string, len(ms))
						for i := range ms {
							h[i] = ms[i].ReceiptHandle
						}
						if len(h) > 0 {
							if _, err := s.DeleteBatch(ctx, "bench", h); err != nil {
								b.Error(err)
								return
							}
						}
						done.Add(int64(len(ms)))
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func fill(b *testing.B, s *Service, n int) {
	batch := make([]SendInput, 10)
	for i := range batch {
		batch[i] = SendInput{Body: strings.Repeat("x", 200)}
	}
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	for range 8 {
		wg.Go(func() {
			for {
				k := min(left.Add(-10)+10, 10)
				if k <= 0 {
					return
				}
				_, errs, err := s.SendBatch(b.Context(), "bench", batch[:k])
				if err == nil {
					err = errors.Join(errs...)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkReceiveDeleteSingle: one message per receive, one delete per message.
func BenchmarkReceiveDeleteSingle(b *testing.B) {
	for _, workers := range []int{1, 8, 32} {
		b.Run(fmt.Sprint("workers=", workers), func(b *testing.B) {
			s, _ := start(b, b.TempDir())
			ctx := b.Context()
			if err := s.CreateQueue(ctx, "bench", nil, nil); err != nil {
				b.Fatal(err)
			}
			fill(b, s, b.N)
			b.ResetTimer()
			var done atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for done.Load() < int64(b.N) {
						ms, err := s.Receive(ctx, "bench", ReceiveOptions{Max: 1})
						if err != nil {
							b.Error(err)
							return
						}
						for _, m := range ms {
							if err := s.Delete(ctx, "bench", m.ReceiptHandle); err != nil {
								b.Error(err)
								return
							}
						}
						done.Add(int64(len(ms)))
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
