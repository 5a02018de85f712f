package workers_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
	"whistle/workers/sla"
)

func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, time.FixedZone("CST", 8*3600))
	if err != nil {
		panic(err)
	}
	return t
}

// TestEscalationOnAnInjectedClock routes three cases on Wednesday 16
// September 2026 (sign-for due at the end of Sunday 20, a 调休 working day)
// and moves the clock: at the deadline the lead department's supervisor is
// told, two working days later the 安委办 — the city's, or the region's for
// a 挂牌督办 case — and a case signed for in time escalates nowhere.
func TestEscalationOnAnInjectedClock(t *testing.T) {
	for _, redis := range testenv.Redises() {
		t.Run(redis.Name, func(t *testing.T) { testEscalation(t, redis) })
	}
}

func testEscalation(t *testing.T, redis testenv.Redis) {
	ctx := context.Background()
	h := newHarness(t, testenv.Stores()[0], redis)
	clock := testenv.NewClock(cst("2026-09-16 10:00"))
	h.now = clock.Now
	rob, web := startRobot(t, 0)
	lead := h.router.Route(triage.Report{Text: craneReport, City: "银川市"}).Lead
	for target, path := range map[string]string{
		"supervisor:" + lead: "/supervisor", "coordination:银川市": "/yinchuan", "coordination:" + sla.Region: "/region",
	} {
		if err := h.store.SetNotifySettings(ctx, mongodb.NotifySettings{Target: target,
			Webhooks: []mongodb.Webhook{{URL: web.URL + path, Format: workers.FormatJSON}}}); err != nil {
			t.Fatal(err)
		}
	}
	d := h.deps()
	d.Notify.HTTPClient = web.Client()
	w := h.start(d)

	plain := h.routed(h.submit(craneReport, "银川市", false))
	supervised := h.routed(h.submit(cranePara, "银川市", false))
	signed := h.routed(h.submit(craneReport+"（第二次反映）", "银川市", false))
	for _, c := range []*whistle.Case{plain, supervised, signed} {
		if c.Lifecycle.Department != lead {
			t.Fatalf("case routed to %s, the test expects %s", c.Lifecycle.Department, lead)
		}
	}
	apply := func(id string, a whistle.Actor, cmd whistle.Command) {
		t.Helper()
		if _, err := h.store.UpdateCase(ctx, id, func(c *whistle.Case) error {
			_, err := c.Lifecycle.Apply(a, cmd, clock.Now())
			sla.Sync(c, h.policy)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply(supervised.ID, whistle.Actor{ID: "c1", Role: whistle.RoleCoordinator}, whistle.Command{Action: whistle.ActionListSupervision, Reason: "重大事故隐患挂牌督办"})
	clock.Set(cst("2026-09-18 09:00"))
	apply(signed.ID, whistle.Actor{ID: "h1", Role: whistle.RoleHandler, Department: lead}, whistle.Command{Action: whistle.ActionAccept})

	// Only overdue notices count: urgent cases also tell the 安委办 when routed.
	overdue := func(path string) []string {
		var out []string
		for _, b := range rob.received(path) {
			if strings.Contains(b, "期限已届满") {
				out = append(out, b)
			}
		}
		return out
	}
	bodies := func(path string) string { return strings.Join(overdue(path), "\n") }
	step := func(now string, wantPaths map[string][]string) {
		t.Helper()
		clock.Set(cst(now))
		if err := w.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		// Steps scheduled for later run now: the clock was moved past them.
		ins := asynq.NewInspector(h.redis.ConnOpt())
		defer ins.Close()
		waitFor(t, "clock checks done", func() bool { return queueDrained(t, h.redis) || scheduledOnly(ins) })
		if qs, _ := ins.Queues(); slices.Contains(qs, queue.Critical) {
			if _, err := ins.RunAllScheduledTasks(queue.Critical); err != nil {
				t.Fatal(err)
			}
		}
		for path, ids := range wantPaths {
			waitFor(t, "escalation to "+path, func() bool {
				for _, id := range ids {
					if !strings.Contains(bodies(path), id) {
						return false
					}
				}
				return true
			})
		}
	}

	step("2026-09-20 23:00", nil) // before the deadline: nothing is due
	if overdue("/supervisor") != nil {
		t.Fatal("escalated before the deadline")
	}
	step("2026-09-21 00:05", map[string][]string{"/supervisor": {plain.ID, supervised.ID}})
	if overdue("/yinchuan") != nil || overdue("/region") != nil {
		t.Fatal("the 安委办 was told before the supervisor had two working days")
	}
	step("2026-09-23 00:05", map[string][]string{"/yinchuan": {plain.ID}, "/region": {supervised.ID}})

	if strings.Contains(bodies("/supervisor")+bodies("/yinchuan")+bodies("/region"), signed.ID) {
		t.Fatal("a case signed for in time was escalated")
	}
	if strings.Contains(bodies("/yinchuan"), supervised.ID) {
		t.Fatal("a 挂牌督办 case went to the city instead of one level up")
	}
	waitFor(t, "steps recorded on the clocks", func() bool {
		for _, id := range []string{plain.ID, supervised.ID} {
			c, err := h.store.Case(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(c.Clocks, func(k whistle.Clock) bool { return k.Name == sla.SignFor })
			if i < 0 || c.Clocks[i].Escalated != 2 {
				return false
			}
		}
		return true
	})
	// Sweeping again sends nothing twice.
	before := len(overdue("/supervisor")) + len(overdue("/yinchuan")) + len(overdue("/region"))
	step("2026-09-23 00:10", nil)
	waitFor(t, "queue drained", func() bool { return queueDrained(t, h.redis) })
	if after := len(overdue("/supervisor")) + len(overdue("/yinchuan")) + len(overdue("/region")); after != before {
		t.Fatalf("a repeated sweep sent %d more escalations", after-before)
	}
}

// scheduledOnly reports whether the only tasks left are scheduled ones.
func scheduledOnly(ins *asynq.Inspector) bool {
	qs, err := ins.Queues()
	if err != nil {
		return false
	}
	for _, q := range qs {
		info, err := ins.GetQueueInfo(q)
		if err != nil || info.Pending+info.Active+info.Retry > 0 {
			return false
		}
	}
	return true
}
