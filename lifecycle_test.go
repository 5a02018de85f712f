package whistle

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The expectations below restate RULES.md "Case lifecycle" by hand, apart from
// lifecycle.go, so that a wrong row in the transitions table fails a test instead of
// being echoed by it.

const (
	caseDept         = "yjt" // the department the test cases are routed to
	strangerDept     = "zjt"
	coordinationDept = "awb" // 安委办
)

var lifecycleT0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))

// legalMove is one legal (state, action) pair and where it leads.
type legalMove struct {
	from   State
	action Action
	to     State
}

// legalMoves is every legal (state, action) pair: the state-changing steps
// written out, and the flag actions (which keep the state) in every open state.
func legalMoves() []legalMove {
	moves := []legalMove{
		{StateReceived, ActionRoute, StateRouted},
		{StateRouted, ActionAccept, StateAccepted},
		{StateRouted, ActionDispute, StateDisputed},
		{StateRouted, ActionReroute, StateRouted},
		{StateDisputed, ActionReroute, StateRouted},
		{StateAccepted, ActionStartVerification, StateVerifying},
		{StateVerifying, ActionConcludeSubstantiated, StateSubstantiated},
		{StateVerifying, ActionConcludePartlySubstantiated, StatePartlySubstantiated},
		{StateVerifying, ActionConcludeUnsubstantiated, StateUnsubstantiated},
		{StateSubstantiated, ActionOrderRectification, StateRectifying},
		{StatePartlySubstantiated, ActionOrderRectification, StateRectifying},
		{StateRectifying, ActionReportRectified, StateRectified},
		{StateRectified, ActionApproveRectification, StateReview},
		{StateRectified, ActionRejectRectification, StateRectifying},
		{StateReview, ActionPassReview, StateReviewed},
		{StateUnsubstantiated, ActionPassReview, StateReviewed},
		{StateReview, ActionSendBackRectification, StateRectifying},
		{StateUnsubstantiated, ActionSendBackVerification, StateVerifying},
		{StateReviewed, ActionClose, StateClosed},
		{StateAccepted, ActionExtendDeadline, StateAccepted},
		{StateVerifying, ActionExtendDeadline, StateVerifying},
	}
	for _, s := range States {
		if s == StateClosed {
			continue
		}
		for _, a := range []Action{ActionListSupervision, ActionDelistSupervision, ActionEscalate} {
			moves = append(moves, legalMove{s, a, s})
		}
	}
	return moves
}

// actionSpec is what RULES.md and the product brief say about one action.
type actionSpec struct {
	roles          []Role
	ownDepartment  bool // only staffRoles of the lead department
	reason         bool
	department     bool
	deadline       bool
	reporterSees   bool
	flag           Flag
	flagAfterwards bool
}

var (
	staffRoles = []Role{RoleHandler, RoleDeptLead}
	coordRoles = []Role{RoleCoordinator}
)

var actionSpecs = map[Action]actionSpec{
	ActionRoute:                       {roles: []Role{RoleSystem, RoleCoordinator}, reason: true, department: true, reporterSees: true},
	ActionAccept:                      {roles: staffRoles, ownDepartment: true, reporterSees: true},
	ActionDispute:                     {roles: staffRoles, ownDepartment: true, reason: true},
	ActionReroute:                     {roles: coordRoles, reason: true, department: true},
	ActionStartVerification:           {roles: staffRoles, ownDepartment: true, reporterSees: true},
	ActionConcludeSubstantiated:       {roles: staffRoles, ownDepartment: true, reason: true, reporterSees: true},
	ActionConcludePartlySubstantiated: {roles: staffRoles, ownDepartment: true, reason: true, reporterSees: true},
	ActionConcludeUnsubstantiated:     {roles: staffRoles, ownDepartment: true, reason: true, reporterSees: true},
	ActionOrderRectification:          {roles: staffRoles, ownDepartment: true, deadline: true, reporterSees: true},
	ActionReportRectified:             {roles: staffRoles, ownDepartment: true, reporterSees: true},
	ActionApproveRectification:        {roles: staffRoles, ownDepartment: true, reporterSees: true},
	ActionRejectRectification:         {roles: staffRoles, ownDepartment: true, reason: true, deadline: true},
	ActionPassReview:                  {roles: coordRoles},
	ActionSendBackRectification:       {roles: coordRoles, reason: true, deadline: true},
	ActionSendBackVerification:        {roles: coordRoles, reason: true},
	ActionClose:                       {roles: coordRoles, reporterSees: true},
	ActionListSupervision:             {roles: coordRoles, reason: true, flag: FlagSupervised, flagAfterwards: true},
	ActionDelistSupervision:           {roles: coordRoles, reason: true, flag: FlagSupervised, flagAfterwards: false},
	ActionEscalate:                    {roles: coordRoles, reason: true, flag: FlagEscalated, flagAfterwards: true},
	ActionExtendDeadline:              {roles: []Role{RoleDeptLead}, ownDepartment: true, reason: true, reporterSees: true, flag: FlagExtended, flagAfterwards: true},
}

// allActions lists the actions in the order the spec above names them.
func allActions() []Action {
	var out []Action
	for _, r := range Transitions() {
		out = append(out, r.Action)
	}
	return out
}

// actorAs returns an actor in role: department staffRoles belong to the lead
// department, the coordinator to 安委办, everyone else to none.
func actorAs(role Role) Actor {
	a := Actor{ID: "u-" + string(role), Role: role}
	switch role {
	case RoleHandler, RoleDeptLead:
		a.Department = caseDept
	case RoleCoordinator:
		a.Department = coordinationDept
	}
	return a
}

// commandFor returns a command carrying exactly the arguments the action needs.
func commandFor(a Action) Command {
	s := actionSpecs[a]
	cmd := Command{Action: a}
	if s.reason {
		cmd.Reason = "  理由：" + string(a) + "  "
	}
	if s.department {
		cmd.Department = strangerDept
	}
	if s.deadline {
		cmd.Deadline = lifecycleT0.AddDate(0, 0, 30)
	}
	return cmd
}

// caseIn returns a case in state s, led by caseDept, with its flags set so that
// action a is not refused because of them. Even a received case gets the lead
// department, so that only the state decides whether staffRoles may act.
func caseIn(s State, a Action) *Lifecycle {
	c := &Lifecycle{State: s, Department: caseDept}
	if f := actionSpecs[a].flag; f != "" {
		*c.flag(f) = !actionSpecs[a].flagAfterwards
	}
	return c
}

func isLegal(s State, a Action) bool {
	return slices.ContainsFunc(legalMoves(), func(m legalMove) bool { return m.from == s && m.action == a })
}

// wantTransitionError asserts that err is a *TransitionError for (from, action, role)
// wrapping a *Error with the given code, field and a zh-CN message.
func wantTransitionError(t *testing.T, err error, code, field string, from State, action Action, role Role) {
	t.Helper()
	var te *TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *TransitionError", err, err)
	}
	if te.From != from || te.Action != action || te.Role != role {
		t.Errorf("TransitionError{%s, %s, %s}, want {%s, %s, %s}", te.From, te.Action, te.Role, from, action, role)
	}
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v does not unwrap to *Error", err)
	}
	if we.Code != code || we.Field != field {
		t.Errorf("code %q field %q, want %q %q (%v)", we.Code, we.Field, code, field, err)
	}
	if !strings.ContainsFunc(ErrorMessage(err), func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
		t.Errorf("message %q is not zh-CN", ErrorMessage(err))
	}
}

func TestTransitionTableMatchesTheWrittenLifecycle(t *testing.T) {
	got := map[legalMove]bool{}
	for _, r := range Transitions() {
		for _, from := range r.From {
			to := r.To
			if to == "" {
				to = from
			}
			got[legalMove{from, r.Action, to}] = true
		}
		s, ok := actionSpecs[r.Action]
		if !ok {
			t.Errorf("rule %s has no written spec", r.Action)
			continue
		}
		if !slices.Equal(r.Roles, s.roles) || r.OwnDepartment != s.ownDepartment ||
			r.NeedsReason != s.reason || r.NeedsDepartment != s.department || r.NeedsDeadline != s.deadline ||
			r.ReporterVisible != s.reporterSees || r.Flag != s.flag || r.Set != s.flagAfterwards {
			t.Errorf("rule %s = %+v, want %+v", r.Action, r, s)
		}
		// Every way into rectification sets its deadline; nothing else does.
		if r.NeedsDeadline != (r.To == StateRectifying) {
			t.Errorf("rule %s: NeedsDeadline %v but leads to %q", r.Action, r.NeedsDeadline, r.To)
		}
	}
	want := map[legalMove]bool{}
	for _, m := range legalMoves() {
		want[m] = true
	}
	if !reflect.DeepEqual(got, want) {
		for m := range got {
			if !want[m] {
				t.Errorf("table allows %s -%s-> %s, which the lifecycle does not", m.from, m.action, m.to)
			}
		}
		for m := range want {
			if !got[m] {
				t.Errorf("table lacks %s -%s-> %s", m.from, m.action, m.to)
			}
		}
	}
	if len(actionSpecs) != len(Transitions()) {
		t.Errorf("%d transitions, %d specs: one entry per action", len(Transitions()), len(actionSpecs))
	}
}

func TestApplyPerformsEveryLegalTransition(t *testing.T) {
	moves := legalMoves()
	for _, m := range moves {
		t.Run(string(m.from)+"/"+string(m.action), func(t *testing.T) {
			s := actionSpecs[m.action]
			for _, role := range s.roles {
				c := caseIn(m.from, m.action)
				before := *c
				a := actorAs(role)
				cmd := commandFor(m.action)
				ev, err := c.Apply(a, cmd, lifecycleT0)
				if err != nil {
					t.Fatalf("%s: %v", role, err)
				}
				wantDept := before.Department
				if s.department {
					wantDept = strangerDept
				}
				want := Event{
					At: lifecycleT0, ActorID: a.ID, Role: role, Action: m.action, From: m.from, To: m.to,
					Reason: strings.TrimSpace(cmd.Reason), Department: wantDept, Deadline: cmd.Deadline,
					ReporterVisible: s.reporterSees,
				}
				if !reflect.DeepEqual(ev, want) {
					t.Errorf("%s: event %+v, want %+v", role, ev, want)
				}
				if c.State != m.to || c.Department != wantDept || len(c.History) != 1 || !reflect.DeepEqual(c.History[0], ev) {
					t.Errorf("%s: case after = %+v", role, c)
				}
				if s.flag != "" && *c.flag(s.flag) != s.flagAfterwards {
					t.Errorf("%s: flag %s = %v, want %v", role, s.flag, *c.flag(s.flag), s.flagAfterwards)
				}
				for _, f := range []Flag{FlagSupervised, FlagEscalated, FlagExtended} {
					if f != s.flag && *c.flag(f) != *before.flag(f) {
						t.Errorf("%s: flag %s changed", role, f)
					}
				}
			}
		})
	}
	t.Logf("legal (state, action) pairs applied: %d", len(moves))
}

func TestApplyRefusesEveryIllegalStateActionPairWithEILLEGAL(t *testing.T) {
	illegal := 0
	for _, s := range States {
		for _, a := range allActions() {
			if isLegal(s, a) {
				continue
			}
			illegal++
			for _, role := range actionSpecs[a].roles {
				c := caseIn(s, a)
				before := *c
				_, err := c.Apply(actorAs(role), commandFor(a), lifecycleT0)
				wantTransitionError(t, err, EILLEGAL, "", s, a, role)
				if !reflect.DeepEqual(*c, before) {
					t.Errorf("%s/%s by %s: refused command changed the case to %+v", s, a, role, c)
				}
			}
		}
	}
	if total := len(States) * len(allActions()); illegal+len(legalMoves()) != total {
		t.Errorf("%d illegal + %d legal != %d states×actions", illegal, len(legalMoves()), total)
	}
	t.Logf("illegal (state, action) pairs refused: %d of %d", illegal, len(States)*len(allActions()))
}

func TestApplyChecksTheRoleOfEveryAction(t *testing.T) {
	for _, a := range allActions() {
		from := legalMoves()[slices.IndexFunc(legalMoves(), func(m legalMove) bool { return m.action == a })].from
		for _, role := range Roles {
			c := caseIn(from, a)
			_, err := c.Apply(actorAs(role), commandFor(a), lifecycleT0)
			if slices.Contains(actionSpecs[a].roles, role) {
				if err != nil {
					t.Errorf("%s by %s: %v", a, role, err)
				}
				continue
			}
			wantTransitionError(t, err, EFORBIDDEN, "", from, a, role)
			if len(c.History) != 0 {
				t.Errorf("%s by %s: forbidden command was recorded", a, role)
			}
		}
	}
}

func TestApplyRefusesStaffOfAnotherDepartment(t *testing.T) {
	for _, a := range allActions() {
		s := actionSpecs[a]
		from := legalMoves()[slices.IndexFunc(legalMoves(), func(m legalMove) bool { return m.action == a })].from
		for _, role := range s.roles {
			for _, dept := range []string{strangerDept, ""} {
				actor := actorAs(role)
				actor.Department = dept
				_, err := caseIn(from, a).Apply(actor, commandFor(a), lifecycleT0)
				if !s.ownDepartment {
					// Routing and supervision belong to 系统 and 安委办 whatever their department.
					if err != nil {
						t.Errorf("%s by %s of %q: %v", a, role, dept, err)
					}
					continue
				}
				wantTransitionError(t, err, EFORBIDDEN, "", from, a, role)
			}
		}
	}
}

func TestApplyChecksDepartmentBeforeStateSoOtherDepartmentsLearnNothing(t *testing.T) {
	stranger := Actor{ID: "u-9", Role: RoleHandler, Department: strangerDept}
	for _, s := range States {
		_, err := caseIn(s, ActionAccept).Apply(stranger, Command{Action: ActionAccept}, lifecycleT0)
		wantTransitionError(t, err, EFORBIDDEN, "", s, ActionAccept, RoleHandler)
	}
	// A case not yet routed belongs to no department, not to staff without one.
	deptless := Actor{ID: "u-8", Role: RoleHandler}
	_, err := NewLifecycle().Apply(deptless, Command{Action: ActionAccept}, lifecycleT0)
	wantTransitionError(t, err, EFORBIDDEN, "", StateReceived, ActionAccept, RoleHandler)
}

func TestApplyValidatesArguments(t *testing.T) {
	deadlineActions := []Action{ActionOrderRectification, ActionRejectRectification, ActionSendBackRectification}
	type tc struct {
		name   string
		action Action
		edit   func(*Command)
		now    time.Time
		field  string
	}
	var cases []tc
	for _, a := range allActions() {
		s := actionSpecs[a]
		if s.reason {
			cases = append(cases,
				tc{"missing reason", a, func(c *Command) { c.Reason = "" }, lifecycleT0, "reason"},
				tc{"blank reason", a, func(c *Command) { c.Reason = " \t\n　" }, lifecycleT0, "reason"})
		}
		if s.department {
			cases = append(cases, tc{"missing department", a, func(c *Command) { c.Department = " " }, lifecycleT0, "department"})
			cases = append(cases, tc{"department too long", a, func(c *Command) { c.Department = strings.Repeat("部", MaxDepartmentRunes+1) }, lifecycleT0, "department"})
		} else {
			cases = append(cases, tc{"department not taken", a, func(c *Command) { c.Department = strangerDept }, lifecycleT0, "department"})
		}
		if !s.deadline {
			cases = append(cases, tc{"deadline not taken", a, func(c *Command) { c.Deadline = lifecycleT0.Add(time.Hour) }, lifecycleT0, "deadline"})
		}
		cases = append(cases,
			tc{"reason too long", a, func(c *Command) { c.Reason = strings.Repeat("字", MaxReasonRunes+1) }, lifecycleT0, "reason"},
			tc{"reason not UTF-8", a, func(c *Command) { c.Reason = "整改\xff" }, lifecycleT0, "reason"},
			tc{"no time", a, func(*Command) {}, time.Time{}, "at"})
	}
	for _, a := range deadlineActions {
		cases = append(cases,
			tc{"missing deadline", a, func(c *Command) { c.Deadline = time.Time{} }, lifecycleT0, "deadline"},
			tc{"deadline now", a, func(c *Command) { c.Deadline = lifecycleT0 }, lifecycleT0, "deadline"},
			tc{"deadline past", a, func(c *Command) { c.Deadline = lifecycleT0.Add(-time.Minute) }, lifecycleT0, "deadline"})
	}
	for _, tt := range cases {
		t.Run(string(tt.action)+"/"+tt.name, func(t *testing.T) {
			from := legalMoves()[slices.IndexFunc(legalMoves(), func(m legalMove) bool { return m.action == tt.action })].from
			role := actionSpecs[tt.action].roles[0]
			c := caseIn(from, tt.action)
			before := *c
			cmd := commandFor(tt.action)
			tt.edit(&cmd)
			_, err := c.Apply(actorAs(role), cmd, tt.now)
			wantTransitionError(t, err, EINVALID, tt.field, from, tt.action, role)
			if !reflect.DeepEqual(*c, before) {
				t.Errorf("invalid command changed the case to %+v", c)
			}
		})
	}
}

func TestApplyAcceptsAReasonOfExactlyTheMaximumLength(t *testing.T) {
	c := caseIn(StateRouted, ActionDispute)
	ev, err := c.Apply(actorAs(RoleHandler), Command{Action: ActionDispute, Reason: strings.Repeat("字", MaxReasonRunes)}, lifecycleT0)
	if err != nil || len([]rune(ev.Reason)) != MaxReasonRunes {
		t.Fatalf("reason of %d runes: %v", MaxReasonRunes, err)
	}
}

func TestApplyRefusesUnknownActionsAndAnonymousActors(t *testing.T) {
	_, err := NewLifecycle().Apply(actorAs(RoleCoordinator), Command{Action: "approve_everything"}, lifecycleT0)
	wantTransitionError(t, err, EINVALID, "action", StateReceived, "approve_everything", RoleCoordinator)

	_, err = NewLifecycle().Apply(Actor{ID: " ", Role: RoleSystem}, commandFor(ActionRoute), lifecycleT0)
	wantTransitionError(t, err, EINVALID, "actor", StateReceived, ActionRoute, RoleSystem)

	_, err = NewLifecycle().Apply(Actor{ID: "x", Role: "superuser"}, commandFor(ActionRoute), lifecycleT0)
	wantTransitionError(t, err, EFORBIDDEN, "", StateReceived, ActionRoute, "superuser")

	_, err = (&Lifecycle{State: "lost"}).Apply(actorAs(RoleCoordinator), commandFor(ActionClose), lifecycleT0)
	wantTransitionError(t, err, EILLEGAL, "", "lost", ActionClose, RoleCoordinator)
}

// lifecycleStep is one command in a scenario and the state it must lead to.
type lifecycleStep struct {
	actor Actor
	cmd   Command
	to    State
}

// run applies the steps one hour apart and checks each resulting state and
// the full history: who, when, what, why.
func runSteps(t *testing.T, c *Lifecycle, steps []lifecycleStep) {
	t.Helper()
	for i, s := range steps {
		at := lifecycleT0.Add(time.Duration(i) * time.Hour)
		if _, err := c.Apply(s.actor, s.cmd, at); err != nil {
			t.Fatalf("step %d %s by %s: %v", i, s.cmd.Action, s.actor.ID, err)
		}
		if c.State != s.to {
			t.Fatalf("step %d %s: state %s, want %s", i, s.cmd.Action, c.State, s.to)
		}
	}
	if len(c.History) != len(steps) {
		t.Fatalf("history has %d events, want %d", len(c.History), len(steps))
	}
	from := StateReceived
	for i, ev := range c.History {
		s := steps[i]
		if ev.At != lifecycleT0.Add(time.Duration(i)*time.Hour) || ev.ActorID != s.actor.ID || ev.Role != s.actor.Role ||
			ev.Action != s.cmd.Action || ev.Reason != s.cmd.Reason || ev.From != from || ev.To != s.to {
			t.Errorf("event %d = %+v, want %s by %s from %s to %s because %q", i, ev, s.cmd.Action, s.actor.ID, from, s.to, s.cmd.Reason)
		}
		from = ev.To
	}
}

func TestCaseWalksFromReceiptToClosureThroughRectification(t *testing.T) {
	sys := Actor{ID: "triage-worker", Role: RoleSystem}
	handler := Actor{ID: "h-17", Role: RoleHandler, Department: strangerDept}
	lead := Actor{ID: "l-3", Role: RoleDeptLead, Department: strangerDept}
	awb := Actor{ID: "c-1", Role: RoleCoordinator, Department: coordinationDept}
	deadline := lifecycleT0.AddDate(0, 1, 0)
	c := NewLifecycle()
	runSteps(t, c, []lifecycleStep{
		{sys, Command{Action: ActionRoute, Reason: "实施细则第17条（一）；谁主管谁牵头", Department: strangerDept}, StateRouted},
		{handler, Command{Action: ActionAccept}, StateAccepted},
		{awb, Command{Action: ActionListSupervision, Reason: "重大事故隐患"}, StateAccepted},
		{handler, Command{Action: ActionStartVerification}, StateVerifying},
		{lead, Command{Action: ActionExtendDeadline, Reason: "需第三方检测"}, StateVerifying},
		{handler, Command{Action: ActionConcludePartlySubstantiated, Reason: "消防通道堵塞属实，无证经营不属实"}, StatePartlySubstantiated},
		{handler, Command{Action: ActionOrderRectification, Deadline: deadline}, StateRectifying},
		{handler, Command{Action: ActionReportRectified}, StateRectified},
		{lead, Command{Action: ActionRejectRectification, Reason: "通道仍有堆放物", Deadline: deadline.AddDate(0, 0, 7)}, StateRectifying},
		{handler, Command{Action: ActionReportRectified}, StateRectified},
		{lead, Command{Action: ActionApproveRectification}, StateReview},
		{awb, Command{Action: ActionSendBackRectification, Reason: "缺少整改前后照片", Deadline: deadline.AddDate(0, 0, 14)}, StateRectifying},
		{handler, Command{Action: ActionReportRectified}, StateRectified},
		{handler, Command{Action: ActionApproveRectification}, StateReview},
		{awb, Command{Action: ActionPassReview}, StateReviewed},
		{awb, Command{Action: ActionClose}, StateClosed},
	})
	if !c.Supervised || !c.Extended || c.Escalated || c.Department != strangerDept {
		t.Errorf("after closure: %+v", c)
	}
	if got := c.History[8].Deadline; !got.Equal(deadline.AddDate(0, 0, 7)) {
		t.Errorf("rejected acceptance set deadline %v", got)
	}
	if got := c.Allowed(awb); len(got) != 0 {
		t.Errorf("a closed case still allows %v", got)
	}
}

func TestUnsubstantiatedFindingIsReviewedAndClosedWithoutRectification(t *testing.T) {
	handler := actorAs(RoleHandler)
	awb := actorAs(RoleCoordinator)
	c := NewLifecycle()
	runSteps(t, c, []lifecycleStep{
		{awb, Command{Action: ActionRoute, Reason: "谁靠近谁牵头", Department: caseDept}, StateRouted},
		{handler, Command{Action: ActionAccept}, StateAccepted},
		{handler, Command{Action: ActionStartVerification}, StateVerifying},
		{handler, Command{Action: ActionConcludeUnsubstantiated, Reason: "现场未发现"}, StateUnsubstantiated},
		{awb, Command{Action: ActionSendBackVerification, Reason: "未调取夜间监控"}, StateVerifying},
		{handler, Command{Action: ActionConcludeUnsubstantiated, Reason: "监控显示夜间无生产"}, StateUnsubstantiated},
		{awb, Command{Action: ActionPassReview}, StateReviewed},
		{awb, Command{Action: ActionClose}, StateClosed},
	})
	for _, ev := range c.History {
		if ev.To == StateRectifying {
			t.Errorf("an unsubstantiated case went into rectification: %+v", ev)
		}
	}
}

func TestDisputedCaseIsReroutedByTheCoordinatorOnly(t *testing.T) {
	first := actorAs(RoleHandler)
	second := Actor{ID: "h-2", Role: RoleHandler, Department: strangerDept}
	awb := actorAs(RoleCoordinator)
	c := NewLifecycle()
	runSteps(t, c, []lifecycleStep{
		{actorAs(RoleSystem), Command{Action: ActionRoute, Reason: "第20条", Department: caseDept}, StateRouted},
		{first, Command{Action: ActionDispute, Reason: "属于商务部门职责"}, StateDisputed},
		{awb, Command{Action: ActionReroute, Reason: "谁为主谁牵头：第25条", Department: strangerDept}, StateRouted},
		{second, Command{Action: ActionAccept}, StateAccepted},
	})
	if c.Department != strangerDept || c.History[2].Department != strangerDept || c.History[1].Department != caseDept {
		t.Errorf("lead department not tracked through the reroute: %+v", c)
	}
	_, err := c.Apply(first, Command{Action: ActionStartVerification}, lifecycleT0)
	wantTransitionError(t, err, EFORBIDDEN, "", StateAccepted, ActionStartVerification, RoleHandler)

	// A dispute the coordinator rejects goes back to the same department.
	c = &Lifecycle{State: StateDisputed, Department: caseDept}
	if _, err := c.Apply(awb, Command{Action: ActionReroute, Reason: "维持原分办", Department: caseDept}, lifecycleT0); err != nil || c.Department != caseDept {
		t.Errorf("upholding the routing: %v, %+v", err, c)
	}
}

func TestVerificationDeadlineIsExtendedOnlyOnceAndOnlyByTheDepartmentLead(t *testing.T) {
	lead := actorAs(RoleDeptLead)
	c := &Lifecycle{State: StateAccepted, Department: caseDept}
	_, err := c.Apply(actorAs(RoleHandler), Command{Action: ActionExtendDeadline, Reason: "我想延期"}, lifecycleT0)
	wantTransitionError(t, err, EFORBIDDEN, "", StateAccepted, ActionExtendDeadline, RoleHandler)

	ev, err := c.Apply(lead, Command{Action: ActionExtendDeadline, Reason: "需省级检测机构出具报告"}, lifecycleT0)
	if err != nil || !c.Extended || !ev.ReporterVisible || ev.Reason != "需省级检测机构出具报告" {
		t.Fatalf("first extension: %v, %+v, %+v", err, ev, c)
	}
	if slices.Contains(c.Allowed(lead), ActionExtendDeadline) {
		t.Error("Allowed still offers a second extension")
	}
	laterSteps := []struct {
		setup Action
		by    Actor
	}{{ActionStartVerification, actorAs(RoleHandler)}, {ActionConcludeUnsubstantiated, actorAs(RoleHandler)}, {ActionSendBackVerification, actorAs(RoleCoordinator)}}
	for _, s := range laterSteps {
		_, err = c.Apply(lead, Command{Action: ActionExtendDeadline, Reason: "再延一次"}, lifecycleT0)
		wantTransitionError(t, err, EILLEGAL, "", c.State, ActionExtendDeadline, RoleDeptLead)
		cmd := commandFor(s.setup)
		if _, err := c.Apply(s.by, cmd, lifecycleT0); err != nil {
			t.Fatal(err)
		}
	}
	// Sent back to verification: the one extension is still spent.
	_, err = c.Apply(lead, Command{Action: ActionExtendDeadline, Reason: "重新核查"}, lifecycleT0)
	wantTransitionError(t, err, EILLEGAL, "", StateVerifying, ActionExtendDeadline, RoleDeptLead)
}

func TestSupervisionFlagsAreSetAndClearedByTheCoordinator(t *testing.T) {
	awb := actorAs(RoleCoordinator)
	c := &Lifecycle{State: StateVerifying, Department: caseDept}
	type tc struct {
		action                Action
		code, why             string
		supervised, escalated bool
	}
	for i, tt := range []tc{
		{ActionDelistSupervision, EILLEGAL, "未挂牌督办", false, false},
		{ActionListSupervision, "", "", true, false},
		{ActionListSupervision, EILLEGAL, "已挂牌督办", true, false},
		{ActionEscalate, "", "", true, true},
		{ActionEscalate, EILLEGAL, "已提级督办", true, true},
		{ActionDelistSupervision, "", "", false, true},
		{ActionDelistSupervision, EILLEGAL, "未挂牌督办", false, true},
		{ActionListSupervision, "", "", true, true},
	} {
		_, err := c.Apply(awb, Command{Action: tt.action, Reason: "第" + string(rune('1'+i)) + "次"}, lifecycleT0)
		if ErrorCode(err) != tt.code {
			t.Errorf("%d %s: error %v, want code %q", i, tt.action, err, tt.code)
		}
		// The refusal says which way the flag already stands.
		if err != nil && !strings.Contains(ErrorMessage(err), tt.why) {
			t.Errorf("%d %s: message %q does not say %q", i, tt.action, ErrorMessage(err), tt.why)
		}
		if c.Supervised != tt.supervised || c.Escalated != tt.escalated || c.State != StateVerifying {
			t.Errorf("%d %s: case %+v", i, tt.action, c)
		}
	}
	// Flags describe how the case was supervised; closing keeps them and freezes them.
	c = &Lifecycle{State: StateClosed, Department: caseDept, Supervised: true, Escalated: true}
	for _, a := range []Action{ActionDelistSupervision, ActionListSupervision, ActionEscalate} {
		_, err := c.Apply(awb, Command{Action: a, Reason: "销号后"}, lifecycleT0)
		wantTransitionError(t, err, EILLEGAL, "", StateClosed, a, RoleCoordinator)
	}
}

func TestAllowedListsExactlyWhatApplyAccepts(t *testing.T) {
	for _, s := range States {
		for _, role := range Roles {
			for _, supervised := range []bool{false, true} {
				a := actorAs(role)
				c := &Lifecycle{State: s, Department: caseDept, Supervised: supervised}
				var want []Action
				for _, action := range allActions() {
					sp := actionSpecs[action]
					if isLegal(s, action) && slices.Contains(sp.roles, role) &&
						!(sp.flag == FlagSupervised && supervised == sp.flagAfterwards) {
						want = append(want, action)
					}
				}
				if got := c.Allowed(a); !slices.Equal(got, want) {
					t.Errorf("%s by %s (supervised %v): Allowed %v, want %v", s, role, supervised, got, want)
				}
				for _, action := range c.Allowed(a) {
					if _, err := c.Apply(a, commandFor(action), lifecycleT0); err != nil {
						t.Errorf("%s by %s: Allowed offers %s but Apply says %v", s, role, action, err)
					}
					c = &Lifecycle{State: s, Department: caseDept, Supervised: supervised}
				}
			}
		}
	}
	stranger := Actor{ID: "h-9", Role: RoleHandler, Department: strangerDept}
	if got := (&Lifecycle{State: StateRouted, Department: caseDept}).Allowed(stranger); len(got) != 0 {
		t.Errorf("another department's handler is offered %v", got)
	}
}

func TestReporterEventsHideInternalStepsAndStaffIDs(t *testing.T) {
	c := &Lifecycle{State: StateRouted, Department: caseDept}
	handler, lead := actorAs(RoleHandler), actorAs(RoleDeptLead)
	for _, s := range []lifecycleStep{
		{handler, Command{Action: ActionDispute, Reason: "不属本部门"}, StateDisputed},
		{actorAs(RoleCoordinator), Command{Action: ActionReroute, Reason: "维持", Department: caseDept}, StateRouted},
		{handler, Command{Action: ActionAccept}, StateAccepted},
		{lead, Command{Action: ActionExtendDeadline, Reason: "需检测"}, StateAccepted},
	} {
		if _, err := c.Apply(s.actor, s.cmd, lifecycleT0); err != nil {
			t.Fatal(err)
		}
	}
	got := c.ReporterEvents()
	if len(got) != 2 || got[0].Action != ActionAccept || got[1].Action != ActionExtendDeadline || got[1].Reason != "需检测" {
		t.Fatalf("reporter events %+v", got)
	}
	for _, ev := range got {
		if ev.ActorID != "" {
			t.Errorf("reporter sees staffRoles id %q", ev.ActorID)
		}
	}
	if c.History[2].ActorID != handler.ID {
		t.Error("ReporterEvents changed the stored history")
	}
}

func TestStatesActionsAndRolesHaveStableCodesAndZhCNLabels(t *testing.T) {
	type named struct {
		code, label string
	}
	var all []named
	for _, s := range States {
		all = append(all, named{string(s), s.Label()}, named{"reporter:" + string(s), s.ReporterLabel()})
		if got, err := ParseState(string(s)); err != nil || got != s {
			t.Errorf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	for _, a := range allActions() {
		all = append(all, named{string(a), a.Label()})
		if got, err := ParseAction(string(a)); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %q, %v", a, got, err)
		}
	}
	for _, r := range Roles {
		all = append(all, named{string(r), r.Label()})
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, f := range []Flag{FlagSupervised, FlagEscalated, FlagExtended} {
		all = append(all, named{string(f), f.Label()})
	}
	for _, n := range all {
		if strings.HasPrefix(n.label, "未知") || !strings.ContainsFunc(n.label, func(r rune) bool { return r >= 0x4e00 }) {
			t.Errorf("%s has label %q", n.code, n.label)
		}
	}
	for _, unknown := range []string{"", "Closed", "closed ", "销号"} {
		if _, err := ParseState(unknown); ErrorCode(err) != EINVALID {
			t.Errorf("ParseState(%q): %v", unknown, err)
		}
		if _, err := ParseAction(unknown); ErrorCode(err) != EINVALID {
			t.Errorf("ParseAction(%q): %v", unknown, err)
		}
		if _, err := ParseRole(unknown); ErrorCode(err) != EINVALID {
			t.Errorf("ParseRole(%q): %v", unknown, err)
		}
	}
	if State("x").Label() != "未知状态" || Action("x").Label() != "未知操作" || Role("x").Label() != "未知角色" || Flag("x").Label() != "未知标记" {
		t.Error("unknown codes must not borrow a real label")
	}
}

func TestTransitionsReturnsACopy(t *testing.T) {
	r := Transitions()
	r[0].From[0] = StateClosed
	r[0].Roles[0] = RoleAdmin
	r[0].To = StateClosed
	if got := Transitions()[0]; got.From[0] != StateReceived || got.Roles[0] != RoleSystem || got.To != StateRouted {
		t.Errorf("editing the copy changed the table: %+v", got)
	}
}

func FuzzParseCodes(f *testing.F) {
	for _, seed := range []string{"received", "close", "coordRoles", "", "已销号", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, code string) {
		check := func(kind, got string, err error) {
			if err == nil && got != code {
				t.Errorf("%s(%q) = %q", kind, code, got)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Errorf("%s(%q): %v", kind, code, err)
			}
		}
		s, err := ParseState(code)
		check("ParseState", string(s), err)
		a, err := ParseAction(code)
		check("ParseAction", string(a), err)
		r, err := ParseRole(code)
		check("ParseRole", string(r), err)
	})
}
