package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"whistle"
)

// loadClients is the concurrency: 64 reporters submitting at once.
const loadClients = 64

// targetRate is the throughput target (100× GlobaLeaks' 0.46/s).
const targetRate = 46.0

// loadSubmissions is how many submissions each phase makes
// (WHISTLE_BENCH_SUBMISSIONS, default 8 per client).
func loadSubmissions() int {
	if n, err := strconv.Atoi(os.Getenv("WHISTLE_BENCH_SUBMISSIONS")); err == nil && n > 0 {
		return n
	}
	return 8 * loadClients
}

type loadResult struct {
	name          string
	n, errors     int
	wall          time.Duration
	p50, p95, p99 time.Duration
}

func (r loadResult) perSecond() float64 { return float64(r.n-r.errors) / r.wall.Seconds() }

func (r loadResult) String() string {
	return fmt.Sprintf("%-34s %5d ops %3d errors %8.1f ops/s  p50 %6.1f ms  p95 %6.1f ms  p99 %6.1f ms",
		r.name, r.n, r.errors, r.perSecond(), ms(r.p50), ms(r.p95), ms(r.p99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runLoad calls op n times from loadClients goroutines, each starting its
// next call as soon as the last one returns (closed loop: the most the
// system can do), and measures each call and the whole.
func runLoad(name string, n int, op func(i int) error) loadResult {
	return runScheduled(name, n, 0, op)
}

// runScheduled is runLoad with call i due at start + i/rate when rate > 0
// (open loop: reports arriving at a steady rate over loadClients
// connections). Latency runs from the due time, so time spent waiting for a
// free client counts (no coordinated omission).
func runScheduled(name string, n int, rate float64, op func(i int) error) loadResult {
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					time.Sleep(time.Until(t0))
				}
				if op(i) != nil {
					failed.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	r := loadResult{name: name, n: n, errors: int(failed.Load()), wall: time.Since(start)}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(n-1, int(p*float64(n)))] }
	r.p50, r.p95, r.p99 = pct(0.50), pct(0.95), pct(0.99)
	return r
}

// BenchmarkIntakeLoad submits reports over HTTP at 64 concurrent clients
// against the embedded default (FerretDB/SQLite + miniredis), and in the same
// run measures the layers underneath with the same concurrency: the service
// without HTTP, the store's CreateCase (pending marker + receipt lookup +
// case) and a bare insert of the same sealed case document. Run it once:
//
//	go test ./intake -run '^$' -bench IntakeLoad -benchtime 1x
func BenchmarkIntakeLoad(b *testing.B) {
	for range b.N {
		s := newTestServer(b, Limits{Submit: Rate{Burst: 1 << 30, Every: time.Nanosecond}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go s.app.Listener(ln)
		url := "http://" + ln.Addr().String() + "/api/v1/reports"
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients, MaxConnsPerHost: loadClients}, Timeout: time.Minute}
		body, _ := json.Marshal(map[string]any{
			"channel": "web", "text": "宁东基地某化工企业储罐区可燃气体报警器长期关闭，夜间违规动火作业，消防通道被货物堵塞，员工多次反映无人处理。",
			"city": NingdongBase, "address": "宁东镇化工园区", "company": "某某化工有限公司", "industry": "危险化学品",
			"started_at": "三个月前", "danger_now": false, "relationship": "employee",
		})
		n := loadSubmissions()
		ctx := context.Background()

		post := func(int) error {
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		httpRun := runLoad("HTTP, 64 clients flat out", n, post)
		// At 64 clients flat out, latency is 64 / throughput by Little's law;
		// the p95 target is about reports arriving at the target rate.
		pacedRun := runScheduled(fmt.Sprintf("HTTP, %.0f/s over 64 clients", targetRate), n, targetRate, post)
		in := validSubmission()
		serviceRun := runLoad("Service.Submit (no HTTP)", n, func(int) error {
			_, _, err := s.svc.Submit(ctx, in)
			return err
		})
		// The same sealed document, under fresh ids, for the store-only phases.
		_, id, err := s.svc.Submit(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		template, err := s.store.Case(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		clone := func() *whistle.Case {
			c := *template
			c.ID = whistle.NewID()
			return &c
		}
		createRun := runLoad("store.CreateCase (3 writes)", n, func(int) error {
			c := clone()
			return s.store.CreateCase(ctx, c, []byte("bench-"+c.ID))
		})
		bareRun := runLoad("bare insert of the sealed document", n, func(int) error {
			return s.store.InsertCaseDocument(ctx, clone())
		})
		s.app.Shutdown()

		for _, r := range []loadResult{httpRun, pacedRun, serviceRun, createRun, bareRun} {
			b.Log(r)
		}
		b.Logf("HTTP submissions reach %.0f%% of the bare-insert rate on the same store; issue target ≥ %.0f/s, p95 < 100 ms, 0 errors",
			100*httpRun.perSecond()/bareRun.perSecond(), targetRate)
		b.ReportMetric(httpRun.perSecond(), "submissions/s")
		b.ReportMetric(ms(httpRun.p50), "p50-ms")
		b.ReportMetric(ms(httpRun.p95), "p95-ms")
		b.ReportMetric(ms(httpRun.p99), "p99-ms")
		b.ReportMetric(ms(pacedRun.p95), "paced-p95-ms")
		b.ReportMetric(float64(httpRun.errors+pacedRun.errors), "errors")
		b.ReportMetric(bareRun.perSecond(), "bare-inserts/s")
		if httpRun.errors+pacedRun.errors > 0 {
			b.Errorf("%d of %d submissions failed", httpRun.errors+pacedRun.errors, 2*n)
		}
	}
}
