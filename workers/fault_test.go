package workers_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"whistle"
	"whistle/crypto"
	"whistle/embedded"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
)

// The child process of the kill test is this test binary started again
// with childEnv set: TestMain then runs runChildWorker instead of the tests.
const (
	childEnv      = "WHISTLE_WORKERS_FAULT_CHILD"
	childMongo    = "WHISTLE_WORKERS_FAULT_MONGO"
	childRedis    = "WHISTLE_WORKERS_FAULT_REDIS" // addr/db
	childKeys     = "WHISTLE_WORKERS_FAULT_KEYS"
	childBlockAt  = "WHISTLE_WORKERS_FAULT_BLOCK" // case=point,case=point
	blockedPrefix = "BLOCKED "
)

// runChildWorker is a worker-only main: it runs the real workers against
// the parent's store and Redis and, when a listed case reaches its hook
// point, says so on stdout and blocks until the parent kills it.
func runChildWorker() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	ctx := context.Background()
	db, err := mongodb.Open(ctx, mongodb.Config{URI: os.Getenv(childMongo), Database: "whistle"})
	if err != nil {
		return fail(err)
	}
	addr, dbn, _ := strings.Cut(os.Getenv(childRedis), "/")
	n, _ := strconv.Atoi(dbn)
	rc := queue.Config{Addr: addr, DB: n}
	keys, err := crypto.LoadKeyset(os.Getenv(childKeys))
	if err != nil {
		return fail(err)
	}
	router, err := triage.New()
	if err != nil {
		return fail(err)
	}
	q := queue.NewClient(rc)
	w, err := workers.New(workers.Deps{Store: db, Queue: q, Redis: rc, Keys: keys, Router: router, Logger: testenv.Quiet(), Concurrency: 4})
	if err != nil {
		return fail(err)
	}
	block := map[string]string{}
	for _, kv := range strings.Split(os.Getenv(childBlockAt), ",") {
		id, point, _ := strings.Cut(kv, "=")
		block[id] = point
	}
	var mu sync.Mutex
	w.SetHook(func(point, caseID string) {
		if block[caseID] == point {
			mu.Lock()
			fmt.Printf("%s%s %s\n", blockedPrefix, caseID, point)
			mu.Unlock()
			select {} // until SIGKILL
		}
	})
	if err := w.Start(); err != nil {
		return fail(err)
	}
	select {}
}

// TestKilledWorkerRoutesExactlyOnce kills (SIGKILL) a worker process in the
// middle of triage:report — one case after reading and routing in memory,
// one after the routing write but before its pending marker was cleared —
// and restarts workers: each case ends routed exactly once.
func TestKilledWorkerRoutesExactlyOnce(t *testing.T) {
	t.Parallel() // mostly waiting for asynq's lease expiry
	for _, redis := range testenv.Redises() {
		t.Run(redis.Name, func(t *testing.T) {
			t.Parallel()
			testKill(t, redis)
		})
	}
}

func testKill(t *testing.T, redis testenv.Redis) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := embedded.StartFerretDB(ctx, embedded.Backend{SQLiteDir: filepath.Join(dir, "db")}, testenv.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	db, err := mongodb.Open(ctx, mongodb.Config{URI: f.URI, Database: "whistle", EmbeddedSQLiteDir: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()); f.Close() })
	addr, n := redis.Start(t)
	h := newHarnessOn(t, db, queue.Config{Addr: addr, DB: n})
	keysDir := filepath.Join(dir, "keys")
	keys, _, err := crypto.EnsureDevKeyset(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	h.keys = keys
	if h.intake, err = newIntake(h); err != nil {
		t.Fatal(err)
	}

	before := h.submit(craneReport, "银川市", false)
	after := h.submit(fireExitReport, "石嘴山市", false)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childMongo+"="+f.URI, childRedis+"="+addr+"/"+strconv.Itoa(n),
		childKeys+"="+keysDir, childBlockAt+"="+before+"="+workers.HookTriageDecided+","+after+"="+workers.HookTriageRouted)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	blocked := map[string]bool{}
	lines := bufio.NewScanner(stdout)
	for len(blocked) < 2 && lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), blockedPrefix); ok {
			blocked[strings.Fields(id)[0]] = true
		}
	}
	if !blocked[before] || !blocked[after] {
		cmd.Process.Kill()
		t.Fatalf("child worker did not reach both hook points: %v", blocked)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no shutdown
		t.Fatal(err)
	}
	cmd.Wait()

	c, _ := h.store.Case(ctx, before)
	if c.Lifecycle.State != whistle.StateReceived {
		t.Fatal("a worker killed before its write changed the case")
	}
	c, _ = h.store.Case(ctx, after)
	if c.Lifecycle.State != whistle.StateRouted {
		t.Fatal("the routing write before the kill is missing")
	}

	// Restart: asynq hands the dead worker's tasks back once their lease
	// expires; the sweep keeps the pending markers covered meanwhile.
	h.start(h.deps())
	for _, id := range []string{before, after} {
		waitLong(t, 3*time.Minute, "case "+id+" routed after the restart", func() bool {
			c, err := h.store.Case(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := h.store.PendingCases(ctx, 100)
			return err == nil && c.Lifecycle.State == whistle.StateRouted &&
				!slices.ContainsFunc(ps, func(p mongodb.Pending) bool { return p.CaseID == id })
		})
		c, _ := h.store.Case(ctx, id)
		if routeEvents(c) != 1 || hasPrefix(c.Sealed.Keys, "triage:") {
			t.Fatalf("case %s: %d route events, triage copy kept=%v", id, routeEvents(c), hasPrefix(c.Sealed.Keys, "triage:"))
		}
		// The dedupe task was enqueued before the kill, whichever side of
		// the routing write it fell: the fingerprint is linked.
		waitLong(t, 3*time.Minute, "case "+id+" fingerprint linked after the restart", func() bool {
			fp, err := h.store.CaseFingerprint(ctx, id)
			return err == nil && fp != nil
		})
	}
}

// restartableRedis is a Redis the test can stop and start on one address,
// losing its data like a crashed server without persistence.
type restartableRedis interface {
	address() string
	stop()
	start(t *testing.T)
}

type miniRedis struct {
	m    *miniredis.Miniredis
	addr string
}

func (r *miniRedis) address() string { return r.addr }
func (r *miniRedis) stop()           { r.m.Close() }
func (r *miniRedis) start(t *testing.T) {
	r.m = miniredis.NewMiniRedis()
	if err := r.m.StartAddr(r.addr); err != nil {
		t.Fatal(err)
	}
}

type serverRedis struct {
	port string
	cmd  *exec.Cmd
}

func (r *serverRedis) address() string { return "127.0.0.1:" + r.port }
func (r *serverRedis) stop()           { r.cmd.Process.Kill(); r.cmd.Wait() }
func (r *serverRedis) start(t *testing.T) {
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redis-server listening", func() bool {
		c, err := net.Dial("tcp", r.address())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// TestRedisOutageLosesNoReport stops Redis, submits 50 reports (all are
// stored and get receipts), starts an empty Redis, and drives the sweep:
// every report is routed within two sweeps.
func TestRedisOutageLosesNoReport(t *testing.T) {
	t.Parallel()
	backends := map[string]func(t *testing.T) restartableRedis{
		"miniredis": func(t *testing.T) restartableRedis {
			m := miniredis.NewMiniRedis()
			if err := m.StartAddr("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			return &miniRedis{m: m, addr: m.Addr()}
		},
	}
	if os.Getenv(testenv.RedisEnv) != "" {
		backends["redis-server"] = func(t *testing.T) restartableRedis {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			ln.Close()
			r := &serverRedis{port: port}
			r.start(t)
			return r
		}
	}
	for name, startRedis := range backends {
		t.Run(name, func(t *testing.T) {
			r := startRedis(t)
			t.Cleanup(r.stop)
			h := newHarnessOn(t, testenv.Stores()[0].Open(t), queue.Config{Addr: r.address()})
			w := h.start(h.deps())
			testOutage(t, h, w, r)
		})
	}
}

func testOutage(t *testing.T, h *harness, w *workers.Workers, r restartableRedis) {
	ctx := context.Background()
	r.stop()
	ids := make([]string, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = h.submit(fmt.Sprintf("%s（第%d份）", fireExitReport, i), "石嘴山市", false)
		}()
	}
	wg.Wait()
	pending, err := h.store.PendingCases(ctx, 100)
	if err != nil || len(pending) != 50 {
		t.Fatalf("%d reports stored and pending with Redis down (%v), want 50", len(pending), err)
	}
	r.start(t)
	routed := func() int {
		n := 0
		for _, id := range ids {
			c, err := h.store.Case(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.Lifecycle.State == whistle.StateRouted {
				n++
			}
		}
		return n
	}
	for sweep := 1; sweep <= 2; sweep++ {
		waitFor(t, "Redis answering the workers", func() bool { return w.Reconcile(ctx) == nil })
		waitFor(t, "sweep's tasks done", func() bool { return queueDrained(t, h.redis) })
		t.Logf("after sweep %d: %d of 50 routed", sweep, routed())
	}
	if n := routed(); n != 50 {
		t.Fatalf("%d of 50 reports routed after two sweeps", n)
	}
	if unlinked, err := h.store.PendingFingerprints(ctx, 100); err != nil || len(unlinked) != 0 {
		t.Fatalf("%d fingerprints still waiting to be linked after two sweeps (%v)", len(unlinked), err)
	}
}

// TestPanickingHandlerIsRetriedThenArchived: a handler that panics is
// retried, then archived with the panic visible to operators, and the
// worker goes on routing reports.
func TestPanickingHandlerIsRetriedThenArchived(t *testing.T) {
	for _, redis := range testenv.Redises() {
		t.Run(redis.Name, func(t *testing.T) {
			h := newHarness(t, testenv.Stores()[0], redis)
			w, err := workers.New(h.deps())
			if err != nil {
				t.Fatal(err)
			}
			var runs sync.WaitGroup
			runs.Add(3)
			w.HandleForTest("test:panic", func(context.Context, *asynq.Task) error {
				runs.Done()
				panic("boom in handler")
			})
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Shutdown)
			if err := h.queue.Enqueue(context.Background(), asynq.NewTask("test:panic", nil, asynq.MaxRetry(2), asynq.TaskID("p1"))); err != nil {
				t.Fatal(err)
			}
			ins := asynq.NewInspector(h.redis.ConnOpt())
			defer ins.Close()
			var info *asynq.TaskInfo
			waitFor(t, "panicking task archived", func() bool {
				info, err = ins.GetTaskInfo(queue.Default, "p1")
				return err == nil && info.State == asynq.TaskStateArchived
			})
			runs.Wait() // exactly three runs: the first and two retries
			if info.Retried != 2 || !strings.Contains(info.LastErr, "boom in handler") {
				t.Fatalf("archived task: retried %d, last error %q", info.Retried, info.LastErr)
			}
			h.routed(h.submit(craneReport, "银川市", false))
		})
	}
}

// TestLostDedupeTaskIsRecreatedFromTheStore routes a paraphrase of a linked
// report while the low queue is paused, so that its dedupe:link task is
// held but not run, then loses that task the ways Redis can: the store
// still holds the fingerprint, and the sweep (or a worker's start-up pass)
// enqueues the task again once the fingerprint has waited a sweep interval
// — the paraphrase ends linked to the report.
func TestLostDedupeTaskIsRecreatedFromTheStore(t *testing.T) {
	ctx := context.Background()
	deleteTask := func(t *testing.T, h *harness, ins *asynq.Inspector, id string) {
		if err := ins.DeleteTask(queue.Low, queue.TypeDedupe+":"+id); err != nil {
			t.Fatal(err)
		}
	}
	flush := func(t *testing.T, h *harness, ins *asynq.Inspector, id string) {
		rc := redis.NewClient(&redis.Options{Addr: h.redis.Addr, DB: h.redis.DB})
		defer rc.Close()
		if err := rc.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		// An asynq client lists a queue in Redis once per process, and the
		// inspector sees listed queues only: list them again, as a freshly
		// started process would, so that the test can look for the task.
		if err := rc.SAdd(ctx, "asynq:queues", queue.Critical, queue.Default, queue.Low).Err(); err != nil {
			t.Fatal(err)
		}
		if err := ins.PauseQueue(queue.Low); err != nil { // the flush resumed it
			t.Fatal(err)
		}
	}
	sweep := func(t *testing.T, h *harness, w *workers.Workers) {
		if err := w.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	restart := func(t *testing.T, h *harness, w *workers.Workers) { h.start(h.deps()) } // its start-up pass sweeps
	losses := []struct {
		name    string
		lose    func(t *testing.T, h *harness, ins *asynq.Inspector, id string)
		recover func(t *testing.T, h *harness, w *workers.Workers)
	}{
		{"QueuedTaskDeletedThenSwept", deleteTask, sweep},
		{"RedisFlushedThenSwept", flush, sweep},
		{"RedisFlushedThenAnotherWorkerStarted", flush, restart}, // last: it leaves two workers running
	}
	for _, store := range testenv.Stores() {
		for _, rd := range testenv.Redises() {
			t.Run(store.Name+"/"+rd.Name, func(t *testing.T) {
				h := newHarness(t, store, rd)
				var skew atomic.Int64 // moves the workers' clock past the sweep's grace
				h.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
				w := h.start(h.deps())
				ins := asynq.NewInspector(h.redis.ConnOpt())
				defer ins.Close()
				first := h.deduped(h.submit(craneReport, "银川市", false))
				for _, tt := range losses {
					t.Run(tt.name, func(t *testing.T) {
						if err := ins.PauseQueue(queue.Low); err != nil {
							t.Fatal(err)
						}
						id := h.submit(cranePara, "银川市", false)
						h.routed(id)
						waitFor(t, "triage task done", func() bool {
							_, err := ins.GetTaskInfo(queue.Default, queue.TypeTriage+":"+id)
							return notHeld(err)
						})
						if _, err := ins.GetTaskInfo(queue.Low, queue.TypeDedupe+":"+id); err != nil {
							t.Fatalf("the dedupe task is not held before the loss: %v", err)
						}
						tt.lose(t, h, ins, id)
						if p, err := h.store.PendingFingerprint(ctx, id); err != nil || p == nil {
							t.Fatalf("no pending fingerprint in the store after the loss (%v)", err)
						}

						// Within a sweep interval of storing, the fingerprint
						// is its triage task's to enqueue: the sweep leaves it.
						sweep(t, h, w)
						if _, err := ins.GetTaskInfo(queue.Low, queue.TypeDedupe+":"+id); !notHeld(err) {
							t.Fatalf("the sweep enqueued a fingerprint stored moments ago (%v)", err)
						}
						skew.Add(int64(h.policy.Sweep.Interval.Duration() + time.Second))
						tt.recover(t, h, w)
						waitFor(t, "dedupe task re-created", func() bool {
							_, err := ins.GetTaskInfo(queue.Low, queue.TypeDedupe+":"+id)
							return err == nil
						})
						if err := ins.UnpauseQueue(queue.Low); err != nil {
							t.Fatal(err)
						}
						c := h.deduped(id)
						if !slices.ContainsFunc(c.Duplicates, func(d whistle.Duplicate) bool { return d.CaseID == first.ID }) {
							t.Fatalf("after the loss the paraphrase's duplicates are %+v, want %s", c.Duplicates, first.ID)
						}
					})
				}
			})
		}
	}
}
