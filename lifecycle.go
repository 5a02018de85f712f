package whistle

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The case lifecycle (RULES.md "Case lifecycle"; Opinion §三(三)9, 督查方案 §三(一)):
//
//	received ─route→ routed ─accept→ accepted ─start_verification→ verifying
//	             routed ─dispute→ disputed ─reroute→ routed   (安委办 arbitrates)
//	verifying ─conclude_*→ substantiated | partly_substantiated | unsubstantiated
//	(partly_)substantiated ─order_rectification→ rectifying ─report_rectified→ rectified
//	rectified ─approve_rectification→ review        ("谁主管谁验收": the lead department)
//	rectified ─reject_rectification→ rectifying
//	review | unsubstantiated ─pass_review→ reviewed ─close→ closed   ("谁管总谁销号": 安委办)
//	review ─send_back_rectification→ rectifying; unsubstantiated ─send_back_verification→ verifying
//
// A 不属实 finding skips rectification but not review: the coordinator checks every
// dismissal, so a department cannot quietly bury a report. The flags 挂牌督办,
// 提级督办 and the one verification-deadline extension do not move the state.
//
// Everything here is pure: no I/O and no clock reads, so storage can apply a
// command to a loaded case and write it back with its version check.

// State is where a case stands. The codes are stable and stored.
type State string

const (
	StateReceived            State = "received"             // 受理
	StateRouted              State = "routed"               // 分办
	StateAccepted            State = "accepted"             // 签收
	StateDisputed            State = "disputed"             // 退回, awaiting 安委办
	StateVerifying           State = "verifying"            // 核查
	StateSubstantiated       State = "substantiated"        // 属实
	StatePartlySubstantiated State = "partly_substantiated" // 部分属实
	StateUnsubstantiated     State = "unsubstantiated"      // 不属实, awaiting review
	StateRectifying          State = "rectifying"           // 整改
	StateRectified           State = "rectified"            // 整改完成, awaiting 验收
	StateReview              State = "review"               // 复核
	StateReviewed            State = "reviewed"             // 复核通过, awaiting 销号
	StateClosed              State = "closed"               // 销号
)

// States lists every state in lifecycle order.
var States = []State{
	StateReceived, StateRouted, StateAccepted, StateDisputed, StateVerifying,
	StateSubstantiated, StatePartlySubstantiated, StateUnsubstantiated,
	StateRectifying, StateRectified, StateReview, StateReviewed, StateClosed,
}

// openStates are all states but closed: where the flags may still change.
var openStates = slices.Clone(States[:len(States)-1])

// Label is the zh-CN name of the state for staff.
func (s State) Label() string {
	switch s {
	case StateReceived:
		return "已受理"
	case StateRouted:
		return "已分办"
	case StateAccepted:
		return "已签收"
	case StateDisputed:
		return "已退回（待安委办裁定）"
	case StateVerifying:
		return "核查中"
	case StateSubstantiated:
		return "属实"
	case StatePartlySubstantiated:
		return "部分属实"
	case StateUnsubstantiated:
		return "不属实（待复核）"
	case StateRectifying:
		return "整改中"
	case StateRectified:
		return "整改完成（待验收）"
	case StateReview:
		return "待复核"
	case StateReviewed:
		return "复核通过（待销号）"
	case StateClosed:
		return "已销号"
	}
	return "未知状态"
}

// ReporterLabel is the zh-CN name of the state shown to the reporter. It hides
// internal steps the reporter cannot act on (a routing dispute, the split
// between review and closure) and otherwise says the same as Label.
func (s State) ReporterLabel() string {
	switch s {
	case StateRouted, StateDisputed:
		return "已转交主管部门"
	case StateAccepted:
		return "主管部门已签收"
	case StateUnsubstantiated:
		return "核查不属实（复核中）"
	case StateRectified:
		return "整改完成，验收中"
	case StateReview, StateReviewed:
		return "复核中"
	case StateClosed:
		return "已办结"
	}
	return s.Label()
}

// ParseState returns the state with the given stable code.
func ParseState(code string) (State, error) {
	for _, s := range States {
		if string(s) == code {
			return s, nil
		}
	}
	return "", FieldError("state", "未知的案件状态")
}

// Action is a step someone takes on a case. The codes are stable and stored.
type Action string

const (
	ActionRoute                       Action = "route"
	ActionAccept                      Action = "accept"
	ActionDispute                     Action = "dispute"
	ActionReroute                     Action = "reroute"
	ActionStartVerification           Action = "start_verification"
	ActionConcludeSubstantiated       Action = "conclude_substantiated"
	ActionConcludePartlySubstantiated Action = "conclude_partly_substantiated"
	ActionConcludeUnsubstantiated     Action = "conclude_unsubstantiated"
	ActionOrderRectification          Action = "order_rectification"
	ActionReportRectified             Action = "report_rectified"
	ActionApproveRectification        Action = "approve_rectification"
	ActionRejectRectification         Action = "reject_rectification"
	ActionPassReview                  Action = "pass_review"
	ActionSendBackRectification       Action = "send_back_rectification"
	ActionSendBackVerification        Action = "send_back_verification"
	ActionClose                       Action = "close"
	ActionListSupervision             Action = "list_supervision"
	ActionDelistSupervision           Action = "delist_supervision"
	ActionEscalate                    Action = "escalate"
	ActionExtendDeadline              Action = "extend_deadline"
)

// Label is the zh-CN name of the action, as on a button.
func (a Action) Label() string {
	if r, ok := transitionFor(a); ok {
		return r.Label
	}
	return "未知操作"
}

// ParseAction returns the action with the given stable code.
func ParseAction(code string) (Action, error) {
	if r, ok := transitionFor(Action(code)); ok {
		return r.Action, nil
	}
	return "", FieldError("action", "未知的操作")
}

// Flag is a case marker that an action sets or clears without moving the state.
type Flag string

const (
	FlagSupervised Flag = "supervised" // 挂牌督办: listed supervision of a major hazard
	FlagEscalated  Flag = "escalated"  // 提级督办: supervised one level up
	FlagExtended   Flag = "extended"   // the one verification-deadline extension is used
)

// Label is the zh-CN name of the flag.
func (f Flag) Label() string {
	switch f {
	case FlagSupervised:
		return "挂牌督办"
	case FlagEscalated:
		return "提级督办"
	case FlagExtended:
		return "延期核查"
	}
	return "未知标记"
}

// Transition is the rule for one action: who may take it, from which states,
// where it leads and what it needs. There is exactly one per action.
type Transition struct {
	Action Action
	Label  string // zh-CN
	From   []State
	To     State // "" for flag actions: the state stays
	Roles  []Role
	// OwnDepartment: the actor must belong to the case's lead department.
	OwnDepartment bool
	// Flag, if set, is turned to Set; the action is illegal if it already is.
	Flag Flag
	Set  bool

	NeedsReason     bool
	NeedsDepartment bool // the new lead department
	NeedsDeadline   bool // the rectification deadline
	// ReporterVisible events (with their reason) are shown to the reporter.
	ReporterVisible bool
}

var (
	routingRoles     = []Role{RoleSystem, RoleCoordinator}
	departmentRoles  = []Role{RoleHandler, RoleDeptLead}
	coordinatorRoles = []Role{RoleCoordinator}
)

// transitions is the lifecycle table. Reasons are required wherever someone overrules,
// refuses or concludes, so that every such decision can be audited; routing
// must cite the articles it relied on (RULES.md "Routing").
var transitions = []Transition{
	{Action: ActionRoute, Label: "分办", From: []State{StateReceived}, To: StateRouted, Roles: routingRoles,
		NeedsReason: true, NeedsDepartment: true, ReporterVisible: true},
	{Action: ActionAccept, Label: "签收", From: []State{StateRouted}, To: StateAccepted, Roles: departmentRoles,
		OwnDepartment: true, ReporterVisible: true},
	{Action: ActionDispute, Label: "退回", From: []State{StateRouted}, To: StateDisputed, Roles: departmentRoles,
		OwnDepartment: true, NeedsReason: true},
	// The coordinator may also correct a routing before the department disputes it,
	// and may send a disputed case back to the same department (dispute rejected).
	{Action: ActionReroute, Label: "重新分办", From: []State{StateRouted, StateDisputed}, To: StateRouted, Roles: coordinatorRoles,
		NeedsReason: true, NeedsDepartment: true},
	{Action: ActionStartVerification, Label: "开始核查", From: []State{StateAccepted}, To: StateVerifying, Roles: departmentRoles,
		OwnDepartment: true, ReporterVisible: true},
	{Action: ActionConcludeSubstantiated, Label: "认定属实", From: []State{StateVerifying}, To: StateSubstantiated, Roles: departmentRoles,
		OwnDepartment: true, NeedsReason: true, ReporterVisible: true},
	{Action: ActionConcludePartlySubstantiated, Label: "认定部分属实", From: []State{StateVerifying}, To: StatePartlySubstantiated, Roles: departmentRoles,
		OwnDepartment: true, NeedsReason: true, ReporterVisible: true},
	{Action: ActionConcludeUnsubstantiated, Label: "认定不属实", From: []State{StateVerifying}, To: StateUnsubstantiated, Roles: departmentRoles,
		OwnDepartment: true, NeedsReason: true, ReporterVisible: true},
	{Action: ActionOrderRectification, Label: "下达整改", From: []State{StateSubstantiated, StatePartlySubstantiated}, To: StateRectifying, Roles: departmentRoles,
		OwnDepartment: true, NeedsDeadline: true, ReporterVisible: true},
	{Action: ActionReportRectified, Label: "报告整改完成", From: []State{StateRectifying}, To: StateRectified, Roles: departmentRoles,
		OwnDepartment: true, ReporterVisible: true},
	{Action: ActionApproveRectification, Label: "验收通过", From: []State{StateRectified}, To: StateReview, Roles: departmentRoles,
		OwnDepartment: true, ReporterVisible: true},
	{Action: ActionRejectRectification, Label: "验收不通过", From: []State{StateRectified}, To: StateRectifying, Roles: departmentRoles,
		OwnDepartment: true, NeedsReason: true, NeedsDeadline: true},
	{Action: ActionPassReview, Label: "复核通过", From: []State{StateReview, StateUnsubstantiated}, To: StateReviewed, Roles: coordinatorRoles},
	{Action: ActionSendBackRectification, Label: "复核退回整改", From: []State{StateReview}, To: StateRectifying, Roles: coordinatorRoles,
		NeedsReason: true, NeedsDeadline: true},
	{Action: ActionSendBackVerification, Label: "复核退回重新核查", From: []State{StateUnsubstantiated}, To: StateVerifying, Roles: coordinatorRoles,
		NeedsReason: true},
	{Action: ActionClose, Label: "销号", From: []State{StateReviewed}, To: StateClosed, Roles: coordinatorRoles, ReporterVisible: true},
	{Action: ActionListSupervision, Label: "挂牌督办", From: openStates, Roles: coordinatorRoles,
		Flag: FlagSupervised, Set: true, NeedsReason: true},
	{Action: ActionDelistSupervision, Label: "摘牌", From: openStates, Roles: coordinatorRoles,
		Flag: FlagSupervised, Set: false, NeedsReason: true},
	{Action: ActionEscalate, Label: "提级督办", From: openStates, Roles: coordinatorRoles,
		Flag: FlagEscalated, Set: true, NeedsReason: true},
	// The verification clock runs from acceptance; one extension, approved by the
	// department's superior, and the reporter is told why (RULES.md "Deadlines").
	{Action: ActionExtendDeadline, Label: "延期核查", From: []State{StateAccepted, StateVerifying}, Roles: []Role{RoleDeptLead},
		OwnDepartment: true, Flag: FlagExtended, Set: true, NeedsReason: true, ReporterVisible: true},
}

// Transitions returns a copy of the lifecycle table, one entry per action, for tests,
// documentation and consoles.
func Transitions() []Transition {
	out := make([]Transition, len(transitions))
	for i, r := range transitions {
		r.From = slices.Clone(r.From)
		r.Roles = slices.Clone(r.Roles)
		out[i] = r
	}
	return out
}

func transitionFor(a Action) (Transition, bool) {
	for _, r := range transitions {
		if r.Action == a {
			return r, true
		}
	}
	return Transition{}, false
}

// Limits on free text stored in the history.
const (
	MaxReasonRunes     = 1000
	MaxDepartmentRunes = 64
)

// Command is an action with its arguments. Only the arguments the rule needs
// may be given; Reason is optional where the rule does not need it.
type Command struct {
	Action     Action
	Reason     string
	Department string    // the new lead department (route, reroute)
	Deadline   time.Time // rectification deadline (entering rectifying)
}

// Event is one entry of a case's history: who did what, when and why.
type Event struct {
	At         time.Time `bson:"at" json:"at"`
	ActorID    string    `bson:"actor_id" json:"actor_id"`
	Role       Role      `bson:"role" json:"role"`
	Action     Action    `bson:"action" json:"action"`
	From       State     `bson:"from" json:"from"`
	To         State     `bson:"to" json:"to"`
	Reason     string    `bson:"reason,omitempty" json:"reason,omitempty"`
	Department string    `bson:"department,omitempty" json:"department,omitempty"` // the lead department after the event
	Deadline   time.Time `bson:"deadline,omitempty" json:"deadline,omitzero"`      // set when the event starts a rectification period
	// ReporterVisible: the reporter sees this event and its reason.
	ReporterVisible bool `bson:"reporter_visible" json:"reporter_visible"`
}

// Lifecycle is the state of one case as far as the lifecycle is concerned. A
// new case is NewLifecycle(); storage keeps these fields in the case document.
type Lifecycle struct {
	State      State   `bson:"state" json:"state"`
	Department string  `bson:"department,omitempty" json:"department,omitempty"` // lead department; "" until routed
	Supervised bool    `bson:"supervised" json:"supervised"`                     // 挂牌督办
	Escalated  bool    `bson:"escalated" json:"escalated"`                       // 提级督办
	Extended   bool    `bson:"extended" json:"extended"`                         // the verification deadline was extended (once only)
	History    []Event `bson:"history" json:"history"`
}

// NewLifecycle returns the lifecycle of a case just received.
func NewLifecycle() *Lifecycle {
	return &Lifecycle{State: StateReceived}
}

// TransitionError is why Apply refused a command. It unwraps to the *Error
// carrying the code (EILLEGAL, EFORBIDDEN or EINVALID) and the zh-CN message.
type TransitionError struct {
	From   State
	Action Action
	Role   Role
	Err    *Error
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("lifecycle: %s from %s by %s: %v", e.Action, e.From, e.Role, e.Err)
}

func (e *TransitionError) Unwrap() error { return e.Err }

// Apply performs cmd for actor a at time now: it checks the role, the
// department, the state, the flags and the arguments, then moves the case and
// appends the event it returns. On error the lifecycle is left unchanged.
func (c *Lifecycle) Apply(a Actor, cmd Command, now time.Time) (Event, error) {
	r, err := c.check(a, cmd.Action)
	if err == nil {
		err = cmd.validate(r, now)
	}
	if err != nil {
		return Event{}, &TransitionError{From: c.State, Action: cmd.Action, Role: a.Role, Err: err}
	}
	ev := Event{
		At:              now,
		ActorID:         a.ID,
		Role:            a.Role,
		Action:          r.Action,
		From:            c.State,
		To:              c.State,
		Reason:          strings.TrimSpace(cmd.Reason),
		Department:      c.Department,
		ReporterVisible: r.ReporterVisible,
	}
	if r.To != "" {
		ev.To = r.To
	}
	if r.NeedsDepartment {
		ev.Department = strings.TrimSpace(cmd.Department)
	}
	if r.NeedsDeadline {
		ev.Deadline = cmd.Deadline
	}
	if r.Flag != "" {
		*c.flag(r.Flag) = r.Set
	}
	c.State, c.Department = ev.To, ev.Department
	c.History = append(c.History, ev)
	return ev, nil
}

// ReporterEvents returns the history the reporter may see: the reporter-visible
// events, without the ids of the staff who acted (their role stays).
func (c *Lifecycle) ReporterEvents() []Event {
	var out []Event
	for _, ev := range c.History {
		if ev.ReporterVisible {
			ev.ActorID = ""
			out = append(out, ev)
		}
	}
	return out
}

// Allowed lists the actions a may take on the case now, in table order, for
// consoles to offer; arguments are not checked.
func (c *Lifecycle) Allowed(a Actor) []Action {
	var out []Action
	for _, r := range transitions {
		if _, err := c.check(a, r.Action); err == nil {
			out = append(out, r.Action)
		}
	}
	return out
}

// check decides whether a may take the action now, arguments aside. The
// department is checked before the state so that staff of another department
// learn nothing about a case that is not theirs.
func (c *Lifecycle) check(a Actor, action Action) (Transition, *Error) {
	r, ok := transitionFor(action)
	switch {
	case !ok:
		return r, FieldError("action", "未知的操作")
	case strings.TrimSpace(a.ID) == "":
		return r, FieldError("actor", "缺少操作人")
	case !slices.Contains(r.Roles, a.Role):
		return r, Errorf(EFORBIDDEN, "%s无权执行「%s」", a.Role.Label(), r.Label)
	case r.OwnDepartment && (a.Department == "" || a.Department != c.Department):
		return r, Errorf(EFORBIDDEN, "该案件不由您所在部门牵头办理，无权执行「%s」", r.Label)
	case !slices.Contains(r.From, c.State):
		return r, Errorf(EILLEGAL, "案件当前为「%s」，不能执行「%s」", c.State.Label(), r.Label)
	case r.Flag != "" && *c.flag(r.Flag) == r.Set:
		return r, flagRefusal(r)
	}
	return r, nil
}

// flagRefusal explains why a flag action that would change nothing is refused.
func flagRefusal(r Transition) *Error {
	if r.Set {
		return Errorf(EILLEGAL, "案件已%s，不能重复操作", r.Flag.Label())
	}
	return Errorf(EILLEGAL, "案件未%s，不能执行「%s」", r.Flag.Label(), r.Label)
}

// flag returns the field that holds f; f must be one of the Flag constants.
func (c *Lifecycle) flag(f Flag) *bool {
	switch f {
	case FlagSupervised:
		return &c.Supervised
	case FlagEscalated:
		return &c.Escalated
	default: // FlagExtended
		return &c.Extended
	}
}

// validate checks the arguments against what rule r needs. Arguments the rule
// does not take are refused rather than dropped, so a caller's mistake shows.
func (cmd Command) validate(r Transition, now time.Time) *Error {
	reason := strings.TrimSpace(cmd.Reason)
	department := strings.TrimSpace(cmd.Department)
	switch {
	case now.IsZero():
		return FieldError("at", "缺少操作时间")
	case r.NeedsReason && reason == "":
		return FieldError("reason", "请填写理由")
	case !utf8.ValidString(reason):
		return FieldError("reason", "理由包含无效字符")
	case utf8.RuneCountInString(reason) > MaxReasonRunes:
		return FieldError("reason", fmt.Sprintf("理由不能超过%d字", MaxReasonRunes))
	case r.NeedsDepartment && department == "":
		return FieldError("department", "请指定牵头部门")
	case !r.NeedsDepartment && cmd.Department != "":
		return FieldError("department", "此操作不指定部门")
	case !utf8.ValidString(department) || utf8.RuneCountInString(department) > MaxDepartmentRunes:
		return FieldError("department", "部门代码无效")
	case r.NeedsDeadline && cmd.Deadline.IsZero():
		return FieldError("deadline", "请指定整改期限")
	case r.NeedsDeadline && !cmd.Deadline.After(now):
		return FieldError("deadline", "整改期限必须晚于当前时间")
	case !r.NeedsDeadline && !cmd.Deadline.IsZero():
		return FieldError("deadline", "此操作不设整改期限")
	}
	return nil
}
