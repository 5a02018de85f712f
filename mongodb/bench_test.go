package mongodb_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

// benchCases is the store size for the read benchmarks (issue: 50,000).
func benchCases() int {
	if n, err := strconv.Atoi(os.Getenv("WHISTLE_BENCH_CASES")); err == nil && n > 0 {
		return n
	}
	return 50000
}

// Departments with a skewed share of cases, as real report volumes are.
var benchDepts = []struct {
	name  string
	share int
}{
	{"自治区住房城乡建设厅", 20}, {"自治区应急管理厅", 15}, {"宁夏消防救援总队", 15}, {"自治区市场监管厅", 10},
	{"自治区交通运输厅", 8}, {"自治区公安厅", 6}, {"国家矿山安监局宁夏局", 5}, {"自治区工业和信息化厅", 4},
	{"自治区农业农村厅", 4}, {"自治区教育厅", 3}, {"自治区卫生健康委", 3}, {"自治区商务厅", 3},
	{"自治区文化和旅游厅（文物局）", 2}, {"自治区水利厅", 2},
}

var benchCities = []struct {
	name  string
	share int
}{{"银川市", 40}, {"石嘴山市", 15}, {"吴忠市", 15}, {"固原市", 10}, {"中卫市", 12}, {"宁东能源化工基地", 8}}

func pick[T any](r *mrand.Rand, items []T, share func(T) int) T {
	total := 0
	for _, it := range items {
		total += share(it)
	}
	n := r.IntN(total)
	for _, it := range items {
		if n -= share(it); n < 0 {
			return it
		}
	}
	return items[0]
}

// seedRouted stores n routed cases of ~2 KB (sealed content, history, clocks)
// spread over departments, cities and a year of deadlines, then builds lists.
func seedRouted(b *testing.B, db *mongodb.DB, n int) (ids []string) {
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(1, 2))
	content := make([]byte, 1800)
	rand.Read(content)
	start := time.Now().UTC().AddDate(-1, 0, 0)
	batch := make([]*whistle.Case, 0, 1000)
	for i := range n {
		received := start.Add(time.Duration(r.IntN(365*24)) * time.Hour)
		dept := pick(r, benchDepts, func(d struct {
			name  string
			share int
		}) int {
			return d.share
		}).name
		city := pick(r, benchCities, func(c struct {
			name  string
			share int
		}) int {
			return c.share
		}).name
		c := &whistle.Case{
			ID: whistle.NewID(), Version: 3, Channel: whistle.ChannelWeb, ReceivedAt: received, City: city, Kind: "一般隐患",
			Lifecycle: whistle.Lifecycle{State: whistle.StateAccepted, Department: dept, History: []whistle.Event{
				{At: received, ActorID: "triage", Role: whistle.RoleSystem, Action: whistle.ActionRoute, From: whistle.StateReceived, To: whistle.StateRouted, Reason: "第三十五条(五)", Department: dept},
				{At: received.Add(time.Hour), ActorID: "u1", Role: whistle.RoleHandler, Action: whistle.ActionAccept, From: whistle.StateRouted, To: whistle.StateAccepted, Department: dept},
			}},
			Clocks: []whistle.Clock{{Name: "handling", Due: received.AddDate(0, 0, 60)}},
			Sealed: whistle.Sealed{Content: content, Keys: map[string][]byte{"department": content[:120], "reporter": content[:120], "custodian": content[:120]}},
		}
		ids = append(ids, c.ID)
		batch = append(batch, c)
		if len(batch) == cap(batch) || i == n-1 {
			if err := db.InsertCases(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := db.RebuildLists(ctx); err != nil {
		b.Fatal(err)
	}
	return ids
}

type latencies []time.Duration

func (l latencies) report(b *testing.B, prefix string) {
	slices.Sort(l)
	q := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), prefix+"-p50-ms")
	b.ReportMetric(q(0.95), prefix+"-p95-ms")
	b.ReportMetric(q(0.99), prefix+"-p99-ms")
}

// BenchmarkReads50k measures the two hot staff reads on a store of 50,000
// cases: one case by id and one department queue page of 50 rows (the
// largest queue: 住建 in 银川). Floors in the same run: a by-_id read on a
// one-document collection, and — once — the naive filtered+sorted query that
// FerretDB v1 answers by scanning, to show what the bucket lists avoid.
//
//	go test -run '^$' -bench Reads50k -benchtime 200x ./mongodb
func BenchmarkReads50k(b *testing.B) {
	for _, backend := range testenv.Stores() {
		b.Run(backend.Name, func(b *testing.B) {
			db := backend.Open(b)
			n := benchCases()
			t0 := time.Now()
			ids := seedRouted(b, db, n)
			b.Logf("%s: seeded %d cases in %s", backend.Name, n, time.Since(t0).Round(time.Millisecond))
			ctx := context.Background()
			r := mrand.New(mrand.NewPCG(3, 4))

			b.Run("CaseByID", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					t := time.Now()
					if _, err := db.Case(ctx, ids[r.IntN(len(ids))]); err != nil {
						b.Fatal(err)
					}
					l = append(l, time.Since(t))
				}
				l.report(b, "lookup")
			})
			b.Run("QueuePage50", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					t := time.Now()
					rows, _, err := db.Queue(ctx, "自治区住房城乡建设厅", "银川市", 50*r.IntN(4), 50)
					if err != nil || len(rows) != 50 {
						b.Fatalf("rows=%d err=%v", len(rows), err)
					}
					l = append(l, time.Since(t))
				}
				l.report(b, "page")
			})
			b.Run("FloorByIDOneDoc", func(b *testing.B) {
				c := &whistle.Case{ID: "floor" + whistle.NewID(), Lifecycle: *whistle.NewLifecycle()}
				floor := backend.Open(b)
				if err := floor.InsertCases(ctx, []*whistle.Case{c}); err != nil {
					b.Fatal(err)
				}
				var l latencies
				for b.Loop() {
					t := time.Now()
					if _, err := floor.Case(ctx, c.ID); err != nil {
						b.Fatal(err)
					}
					l = append(l, time.Since(t))
				}
				l.report(b, "floor")
			})
			b.Run("NaiveFilteredQuery", func(b *testing.B) {
				// Seconds per run at this size: three runs say enough, whatever b.N.
				var l latencies
				for range 3 {
					t := time.Now()
					err := db.NaiveQueue(ctx, bson.D{{Key: "lifecycle.department", Value: "自治区住房城乡建设厅"}, {Key: "city", Value: "银川市"}})
					if mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(fmt.Sprint(err), "MaxTimeMSExpired") {
						b.Logf("naive filtered query exceeded the store's 30 s operation timeout")
						return
					}
					if err != nil {
						b.Fatal(err)
					}
					l = append(l, time.Since(t))
				}
				l.report(b, "naive")
			})
		})
	}
}
