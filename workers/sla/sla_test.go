package sla

import (
	"testing"
	"time"

	"whistle"
	"whistle/workers/policy"
)

const (
	dept  = "自治区住房城乡建设厅"
	other = "宁夏消防救援总队"
)

var (
	system      = whistle.Actor{ID: "triage-worker", Role: whistle.RoleSystem}
	handler     = whistle.Actor{ID: "h1", Role: whistle.RoleHandler, Department: dept}
	lead        = whistle.Actor{ID: "l1", Role: whistle.RoleDeptLead, Department: dept}
	coordinator = whistle.Actor{ID: "c1", Role: whistle.RoleCoordinator}
)

func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, time.FixedZone("CST", 8*3600))
	if err != nil {
		panic(err)
	}
	return t
}

func mustPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// caseAt is a received case in 银川市 with the given actions applied at the
// given times (an injected clock: nothing here reads the wall clock).
func caseAt(t *testing.T, received string, steps ...step) *whistle.Case {
	t.Helper()
	c := &whistle.Case{ID: "c1", ReceivedAt: cst(received).UTC(), City: "银川市", Lifecycle: *whistle.NewLifecycle()}
	apply(t, c, steps...)
	return c
}

type step struct {
	at  string
	who whistle.Actor
	cmd whistle.Command
}

func apply(t *testing.T, c *whistle.Case, steps ...step) {
	t.Helper()
	for _, s := range steps {
		if _, err := c.Lifecycle.Apply(s.who, s.cmd, cst(s.at)); err != nil {
			t.Fatalf("%s at %s: %v", s.cmd.Action, s.at, err)
		}
	}
}

func route(at string) step {
	return step{at, system, whistle.Command{Action: whistle.ActionRoute, Department: dept, Reason: "第三十五条(五)"}}
}
func accept(at string) step { return step{at, handler, whistle.Command{Action: whistle.ActionAccept}} }

func clock(t *testing.T, c *whistle.Case, name string) whistle.Clock {
	t.Helper()
	k, ok := find(c.Clocks, name)
	if !ok {
		t.Fatalf("no %s clock in %+v", name, c.Clocks)
	}
	return k
}

func wantDue(t *testing.T, k whistle.Clock, want string) {
	t.Helper()
	if !k.Due.Equal(cst(want)) {
		t.Fatalf("%s due %s, want %s", k.Name, k.Due.In(cst(want).Location()).Format("2006-01-02 15:04"), want)
	}
}

func TestSignForClockCountsWorkingDaysWithMakeUpDays(t *testing.T) {
	p := mustPolicy(t)
	// Routed on Friday 13 February 2026: Saturday 14 is a 调休 working day,
	// 15–23 is the Spring Festival, so the 3rd working day is Wednesday 25.
	c := caseAt(t, "2026-02-13 09:00", route("2026-02-13 10:00"))
	if !Sync(c, p) {
		t.Fatal("Sync reported no change on a freshly routed case")
	}
	k := clock(t, c, SignFor)
	wantDue(t, k, "2026-02-26 00:00")
	if k.Stopped != nil {
		t.Fatal("sign_for stopped before anyone signed")
	}
	if Sync(c, p) {
		t.Fatal("a second Sync changed an up-to-date case")
	}
	apply(t, c, accept("2026-02-25 16:00"))
	Sync(c, p)
	if k := clock(t, c, SignFor); k.Stopped == nil || !k.Stopped.Equal(cst("2026-02-25 16:00")) {
		t.Fatalf("sign_for not stopped at acceptance: %+v", k)
	}
}

func TestHandlingClockAndItsOneExtension(t *testing.T) {
	p := mustPolicy(t)
	c := caseAt(t, "2026-07-30 09:00", route("2026-07-31 10:00"), accept("2026-08-03 15:00"))
	Sync(c, p)
	// 60 days from 3 August is 2 October, inside the National Day holiday;
	// the period ends on the first working day after it, Thursday 8 October.
	wantDue(t, clock(t, c, Handling), "2026-10-09 00:00")

	// The deadline passes and step 1 is taken; then the superior approves the
	// one extension: 30 days from 8 October is Saturday 7 November → Monday 9.
	for i := range c.Clocks {
		if c.Clocks[i].Name == Handling {
			c.Clocks[i].Escalated = 1
		}
	}
	apply(t, c, step{"2026-10-09 10:00", lead, whistle.Command{Action: whistle.ActionExtendDeadline, Reason: "需要检测机构出具报告"}})
	if !Sync(c, p) {
		t.Fatal("the extension did not change the handling clock")
	}
	k := clock(t, c, Handling)
	wantDue(t, k, "2026-11-10 00:00")
	if k.Escalated != 0 {
		t.Fatalf("an extended clock keeps escalation count %d; a new deadline starts afresh", k.Escalated)
	}
	// A second extension is refused by the lifecycle itself.
	if _, err := c.Lifecycle.Apply(lead, whistle.Command{Action: whistle.ActionExtendDeadline, Reason: "再延"}, cst("2026-11-01 10:00")); whistle.ErrorCode(err) != whistle.EILLEGAL {
		t.Fatalf("second extension: %v, want illegal", err)
	}

	apply(t, c, step{"2026-10-20 10:00", handler, whistle.Command{Action: whistle.ActionStartVerification}},
		step{"2026-10-30 10:00", handler, whistle.Command{Action: whistle.ActionConcludeSubstantiated, Reason: "现场核实属实"}})
	Sync(c, p)
	if k := clock(t, c, Handling); k.Stopped == nil || !k.Stopped.Equal(cst("2026-10-30 10:00")) {
		t.Fatalf("handling not stopped at the conclusion: %+v", k)
	}
	if k := clock(t, c, Feedback); k.Stopped == nil || !k.Stopped.Equal(cst("2026-10-30 10:00")) {
		t.Fatalf("feedback not stopped by the conclusion: %+v", k)
	}
}

func TestRerouteRestartsSignFor(t *testing.T) {
	p := mustPolicy(t)
	c := caseAt(t, "2026-03-02 09:00", route("2026-03-02 10:00"))
	Sync(c, p)
	wantDue(t, clock(t, c, SignFor), "2026-03-06 00:00")
	c.Clocks[0].Escalated = 2
	apply(t, c, step{"2026-03-03 10:00", handler, whistle.Command{Action: whistle.ActionDispute, Reason: "不属本部门职责"}})
	Sync(c, p)
	if k := clock(t, c, SignFor); k.Stopped == nil {
		t.Fatal("a dispute is an answer: sign_for must stop")
	}
	apply(t, c, step{"2026-03-09 10:00", coordinator, whistle.Command{Action: whistle.ActionReroute, Department: other, Reason: "消防通道属消防救援监管"}})
	Sync(c, p)
	k := clock(t, c, SignFor)
	wantDue(t, k, "2026-03-13 00:00")
	if k.Stopped != nil || k.Escalated != 0 {
		t.Fatalf("re-routed case: sign_for %+v, want running afresh", k)
	}
}

func TestRectificationClockFollowsTheOrderedDeadline(t *testing.T) {
	p := mustPolicy(t)
	c := caseAt(t, "2026-03-02 09:00", route("2026-03-02 10:00"), accept("2026-03-03 10:00"),
		step{"2026-03-04 10:00", handler, whistle.Command{Action: whistle.ActionStartVerification}},
		step{"2026-03-05 10:00", handler, whistle.Command{Action: whistle.ActionConcludeSubstantiated, Reason: "属实"}},
		step{"2026-03-05 11:00", handler, whistle.Command{Action: whistle.ActionOrderRectification, Deadline: cst("2026-04-05 00:00")}})
	Sync(c, p)
	wantDue(t, clock(t, c, Rectification), "2026-04-05 00:00")
	apply(t, c, step{"2026-03-20 10:00", handler, whistle.Command{Action: whistle.ActionReportRectified}})
	Sync(c, p)
	if k := clock(t, c, Rectification); k.Stopped == nil {
		t.Fatal("rectification clock runs after the rectification was reported")
	}
}

func TestFeedbackClockStopsAtTheFirstStaffMessage(t *testing.T) {
	p := mustPolicy(t)
	c := caseAt(t, "2026-01-31 10:00", route("2026-01-31 11:00"))
	Sync(c, p)
	wantDue(t, clock(t, c, Feedback), "2026-05-01 00:00")
	c.Messages = []whistle.Message{
		{ID: "m1", At: cst("2026-02-02 09:00"), From: whistle.RoleReporter},
		{ID: "m2", At: cst("2026-02-03 09:00"), From: whistle.RoleHandler, By: "h1"},
	}
	if !Sync(c, p) {
		t.Fatal("a staff message did not stop the feedback clock")
	}
	if k := clock(t, c, Feedback); k.Stopped == nil || !k.Stopped.Equal(cst("2026-02-03 09:00")) {
		t.Fatalf("feedback stopped %v, want at the staff message", k.Stopped)
	}
}

func TestRewardClaimWindowIsKeptBySync(t *testing.T) {
	p := mustPolicy(t)
	c := caseAt(t, "2026-03-02 09:00", route("2026-03-02 10:00"))
	StartRewardClaim(c, cst("2026-06-01 10:00"), p)
	Sync(c, p)
	k := clock(t, c, RewardClaim)
	wantDue(t, k, "2026-08-01 00:00") // 60 days: 31 July
	if !Stop(c, RewardClaim, cst("2026-06-10 10:00")) || Stop(c, RewardClaim, cst("2026-06-11 10:00")) {
		t.Fatal("Stop must stop a running clock once")
	}
	Sync(c, p)
	if clock(t, c, RewardClaim).Stopped == nil {
		t.Fatal("Sync restarted a stopped reward claim clock")
	}
}

func TestEscalationSteps(t *testing.T) {
	p := mustPolicy(t)
	routed := func() *whistle.Case {
		c := caseAt(t, "2026-09-16 09:00", route("2026-09-16 10:00"))
		Sync(c, p)
		return c
	}
	// sign_for from Wednesday 16 September: 17, 18, and Sunday 20 (调休) → due 21 00:00.
	c := routed()
	k := clock(t, c, SignFor)
	wantDue(t, k, "2026-09-21 00:00")

	tests := []struct {
		name       string
		supervised bool
		escalated  int
		now        string
		wantSteps  []Target
		wantNext   string
	}{
		{"before the deadline nothing is due", false, 0, "2026-09-20 23:59", nil, "2026-09-21 00:00"},
		{"at the deadline the supervisor is told", false, 0, "2026-09-21 00:00", []Target{{Supervisor, dept}}, "2026-09-23 00:00"},
		{"two working days on, the city's 安委办", false, 1, "2026-09-23 00:00", []Target{{Coordination, "银川市"}}, ""},
		{"a worker down for days takes both steps at once", false, 0, "2026-09-30 12:00", []Target{{Supervisor, dept}, {Coordination, "银川市"}}, ""},
		{"挂牌督办 goes one level up", true, 1, "2026-09-24 00:00", []Target{{Coordination, Region}}, ""},
		{"all steps taken", false, 2, "2026-10-30 00:00", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := routed()
			c.Lifecycle.Supervised = tt.supervised
			k := clock(t, c, SignFor)
			k.Escalated = tt.escalated
			due, next := DueSteps(c, k, p, cst(tt.now))
			var got []Target
			for _, s := range due {
				got = append(got, s.To)
			}
			if len(got) != len(tt.wantSteps) {
				t.Fatalf("steps %v, want %v", got, tt.wantSteps)
			}
			for i := range got {
				if got[i] != tt.wantSteps[i] {
					t.Fatalf("steps %v, want %v", got, tt.wantSteps)
				}
			}
			if (tt.wantNext == "" && next.N != 0) || (tt.wantNext != "" && !next.At.Equal(cst(tt.wantNext))) {
				t.Fatalf("next step %+v, want at %q", next, tt.wantNext)
			}
		})
	}
}

func TestNoStepsForStoppedClocksOrLapsedRewardGoesToDepartment(t *testing.T) {
	p := mustPolicy(t)
	c := caseAt(t, "2026-03-02 09:00", route("2026-03-02 10:00"), accept("2026-03-03 10:00"))
	Sync(c, p)
	if s := Steps(c, clock(t, c, SignFor), p); len(s) != 0 {
		t.Fatalf("stopped sign_for has steps %v", s)
	}
	StartRewardClaim(c, cst("2026-06-01 10:00"), p)
	s := Steps(c, clock(t, c, RewardClaim), p)
	if len(s) != 1 || s[0].To != (Target{Department, dept}) || !s[0].At.Equal(cst("2026-08-01 00:00")) {
		t.Fatalf("reward claim steps %v", s)
	}
	if (Target{Coordination, "银川市"}).Key() != "coordination:银川市" {
		t.Fatal("target key format changed; notification settings are stored under it")
	}
}
