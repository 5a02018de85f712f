package workers_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"whistle/internal/testenv"
)

// BenchmarkRoutedEndToEnd submits b.N reports through the intake service
// (seal, store, enqueue) while the workers route them, on the embedded store
// with each Redis backend, in two ways:
//
//	burst   all reports from 4 goroutines at once: the routing throughput
//	paced   one report every 250 ms (below that throughput): the latency of
//	        a report that does not queue behind others
//
// and reports:
//
//	reports/s     b.N / (last routing − first submission)
//	submit/s      the submission side alone, measured in the same run: the
//	              floor the routed rate is read against
//	p50_ms p95_ms enqueue-to-routed latency (routing time − submission end)
//	linked_s      first submission to every task done, dedupe:link included:
//	              duplicate linking trails routing on the low queue
//
// Run: go test ./workers -run '^$' -bench RoutedEndToEnd -benchtime 300x
// (with WHISTLE_TEST_REDIS_ADDR set for the redis-server lines).
func BenchmarkRoutedEndToEnd(b *testing.B) {
	for _, redis := range testenv.Redises() {
		for _, mode := range []struct {
			name    string
			senders int
			pace    time.Duration
		}{{"burst", 4, 0}, {"paced", 1, 250 * time.Millisecond}} {
			b.Run(redis.Name+"/"+mode.name, func(b *testing.B) { benchRouting(b, redis, mode.senders, mode.pace) })
		}
	}
}

func benchRouting(b *testing.B, redis testenv.Redis, senders int, pace time.Duration) {
	h := newHarness(b, testenv.Stores()[0], redis)
	h.start(h.deps())
	texts := []string{craneReport, cranePara, fireExitReport, officialsReport}
	ids := make([]string, b.N)
	submitted := make([]time.Time, b.N)
	var wg sync.WaitGroup
	next := make(chan int)
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ids[i] = h.submit(fmt.Sprintf("%s（%d）", texts[i%len(texts)], i), "银川市", false)
				submitted[i] = time.Now()
			}
		}()
	}
	for i := range b.N {
		next <- i
		time.Sleep(pace)
	}
	close(next)
	wg.Wait()
	submitSecs := time.Since(start).Seconds()
	ctx := context.Background()
	waitLong(b, 10*time.Minute, "every report routed", func() bool {
		ps, err := h.store.PendingCases(ctx, b.N)
		return err == nil && len(ps) == 0
	})
	b.StopTimer()
	waitLong(b, 10*time.Minute, "every report linked", func() bool { return queueDrained(b, h.redis) })
	linkedSecs := time.Since(start).Seconds()
	var last time.Time
	lat := make([]float64, b.N)
	for i, id := range ids {
		c, err := h.store.Case(ctx, id)
		if err != nil || c.Routing == nil {
			b.Fatalf("case %s not routed: %v", id, err)
		}
		if c.Routing.RoutedAt.After(last) {
			last = c.Routing.RoutedAt
		}
		lat[i] = float64(max(c.Routing.RoutedAt.Sub(submitted[i]), 0)) / float64(time.Millisecond)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/last.Sub(start).Seconds(), "reports/s")
	b.ReportMetric(float64(b.N)/submitSecs, "submit/s")
	b.ReportMetric(lat[len(lat)/2], "p50_ms")
	b.ReportMetric(lat[len(lat)*95/100], "p95_ms")
	b.ReportMetric(linkedSecs, "linked_s")
}
