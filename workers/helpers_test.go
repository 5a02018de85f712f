package workers_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/crypto"
	"whistle/intake"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
	"whistle/workers/policy"
)

// routerOnce builds the triage router once per test binary.
var routerOnce = sync.OnceValues(triage.New)

func newRouter(t testing.TB) *triage.Router {
	t.Helper()
	r, err := routerOnce()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// harness is one store, one Redis, a keyset and an intake service.
type harness struct {
	t         testing.TB
	store     *mongodb.DB
	redis     queue.Config
	queue     *queue.Client
	keys      *crypto.Keyset
	custodian crypto.CustodianKey
	router    *triage.Router
	intake    *intake.Service
	policy    *policy.Policy
	now       func() time.Time // nil: real time
}

func newHarness(t testing.TB, store testenv.Store, redis testenv.Redis) *harness {
	t.Helper()
	addr, db := redis.Start(t)
	return newHarnessOn(t, store.Open(t), queue.Config{Addr: addr, DB: db})
}

func newHarnessOn(t testing.TB, db *mongodb.DB, rc queue.Config) *harness {
	t.Helper()
	keys, custodian := crypto.GenerateKeyset()
	t.Cleanup(func() { keys.Wipe(); custodian.Wipe() })
	q := queue.NewClient(rc)
	t.Cleanup(func() { q.Close() })
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: db, redis: rc, queue: q, keys: keys, custodian: custodian, router: newRouter(t), policy: p}
	if h.intake, err = newIntake(h); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

func (h *harness) deps() workers.Deps {
	return workers.Deps{Store: h.store, Queue: h.queue, Redis: h.redis, Keys: h.keys, Router: h.router,
		Logger: testenv.Quiet(), Now: h.now, Policy: h.policy, Notify: workers.NotifyConfig{BaseURL: "https://whistle.example.gov.cn"}}
}

// start builds and starts workers, shut down when the test ends.
func (h *harness) start(d workers.Deps) *workers.Workers {
	h.t.Helper()
	w, err := workers.New(d)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Shutdown)
	return w
}

// Report texts: a building-site crane (住房城乡建设) and a paraphrase of it,
// and blocked fire exits in a mall (消防救援).
const (
	craneReport     = "银川市金凤区某小区工地的塔吊司机没有操作证，塔吊安全装置失灵还在吊装钢筋，工人就在下面干活，随时可能出事。"
	cranePara       = "金凤区那个小区工地上塔吊安全装置坏了，开塔吊的人也没有证，照样吊钢筋，下面工人很多，太危险了。"
	fireExitReport  = "石嘴山市大武口区某商场安全出口被货物堵死，消防通道上锁，疏散指示灯不亮。"
	officialsReport = "吴忠市利通区某化工厂储罐区违规动火，安监站的人收了老板的钱，每次检查前都通风报信。"
)

func (h *harness) submit(text, city string, urgent bool) string {
	h.t.Helper()
	_, id, err := h.intake.Submit(context.Background(), intake.Submission{Channel: whistle.ChannelWeb, City: city,
		Report: whistle.Report{Text: text, DangerNow: urgent}})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// waitFor polls cond until it holds. The deadline only turns a hang into a
// failure; no test asserts how fast anything is.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitLong(t, 90*time.Second, what, cond)
}

func waitLong(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) routed(id string) *whistle.Case {
	h.t.Helper()
	var c *whistle.Case
	waitFor(h.t, "case "+id+" to be routed", func() bool {
		var err error
		c, err = h.store.Case(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		return c.Lifecycle.State != whistle.StateReceived
	})
	return c
}

// deduped waits until the case is routed, its fingerprint — stored before
// the routing write — is linked and no dedupe:link task of it is held, and
// returns the case with its duplicates.
func (h *harness) deduped(id string) *whistle.Case {
	h.t.Helper()
	h.routed(id)
	ins := asynq.NewInspector(h.redis.ConnOpt())
	defer ins.Close()
	waitFor(h.t, "case "+id+" linked as a duplicate", func() bool {
		p, err := h.store.PendingFingerprint(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		_, err = ins.GetTaskInfo(queue.Low, queue.TypeDedupe+":"+id)
		return p == nil && notHeld(err)
	})
	c, err := h.store.Case(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// notHeld says whether a GetTaskInfo error means Redis holds no such task.
func notHeld(err error) bool {
	return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
}

// routeEvents counts the route events of a case: exactly-once routing means one.
func routeEvents(c *whistle.Case) int {
	n := 0
	for _, e := range c.Lifecycle.History {
		if e.Action == whistle.ActionRoute {
			n++
		}
	}
	return n
}

// queueDrained reports whether no task is pending, active, scheduled or
// waiting to retry in any queue.
func queueDrained(t testing.TB, rc queue.Config) bool {
	t.Helper()
	ins := asynq.NewInspector(rc.ConnOpt())
	defer ins.Close()
	qs, err := ins.Queues()
	if err != nil {
		return false
	}
	for _, q := range qs {
		info, err := ins.GetQueueInfo(q)
		if err != nil || info.Pending+info.Active+info.Scheduled+info.Retry > 0 {
			return false
		}
	}
	return true
}

func hasPrefix(keys map[string][]byte, prefix string) bool {
	for k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChildWorker())
	}
	os.Exit(m.Run())
}

func newIntake(h *harness) (*intake.Service, error) {
	return intake.NewService(intake.Deps{Store: h.store, Queue: h.queue, Keys: h.keys, Logger: testenv.Quiet(),
		Now: func() time.Time { return h.clock() }})
}
