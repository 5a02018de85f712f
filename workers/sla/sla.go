// Package sla derives a case's statutory clocks from its lifecycle and says
// who must be told when one runs out. It is pure (no I/O, no clock reads), so
// any code that changes a case — the workers, the staff console — can call
// Sync inside its Store.UpdateCase function and the clocks never disagree
// with the history they come from.
//
// Clocks (RULES.md "Deadlines"; numbers from the policy file):
//
//	sign_for       routed (or re-routed)  → accepted or disputed     policy clocks.sign_for (3 working days)
//	handling       accepted               → verification concluded   clocks.handling (60 days), + clocks.handling_extension once if extended
//	rectification  rectification ordered  → reported rectified       the deadline the department set
//	feedback       received               → first feedback to the reporter (a conclusion, closure or staff message)   clocks.feedback (3 months)
//	reward_claim   reporter notified of a reward → claimed           clocks.reward_claim (60 days); started by the reward flow
//
// Escalation of an overdue duty clock: step 1 tells the lead department's
// supervisor, step 2 the 安委办 of the case's jurisdiction — one level up
// (自治区) for 挂牌督办 or 提级督办 cases. An overdue reward_claim clock has one
// step: the lead department is told that the claim window lapsed.
package sla

import (
	"slices"
	"time"

	"whistle"
	"whistle/workers/policy"
)

// Clock names (stored in whistle.Clock.Name; stable).
const (
	SignFor       = "sign_for"
	Handling      = "handling"
	Rectification = "rectification"
	Feedback      = "feedback"
	RewardClaim   = "reward_claim"
)

// Region is the jurisdiction name of the autonomous region itself, whose
// 安委办 (自治区安委办) is one level above every city's.
const Region = "自治区"

// Sync brings c.Clocks in line with c's lifecycle and messages under policy
// p and reports whether anything changed. A clock whose due time is
// unchanged keeps its escalation count; a clock that restarts (re-routing,
// an extension) starts escalating afresh. reward_claim is left as it is: the
// reward flow owns it (StartRewardClaim, Stop).
func Sync(c *whistle.Case, p *policy.Policy) bool {
	var want []whistle.Clock
	h := c.Lifecycle.History
	state := c.Lifecycle.State

	if i := lastIndex(h, func(e whistle.Event) bool { return e.To == whistle.StateRouted }); i >= 0 {
		want = append(want, clockFrom(h, i, SignFor, p.Deadline(h[i].At, p.Clocks.SignFor), state,
			func(s whistle.State) bool { return s == whistle.StateRouted }))
	}
	if i := slices.IndexFunc(h, func(e whistle.Event) bool { return e.Action == whistle.ActionAccept }); i >= 0 {
		due := p.Deadline(h[i].At, p.Clocks.Handling)
		if c.Lifecycle.Extended {
			// The extension runs on from the original last day (whose end is due).
			due = p.Deadline(due.Add(-time.Nanosecond), p.Clocks.HandlingExtension)
		}
		want = append(want, clockFrom(h, i, Handling, due, state,
			func(s whistle.State) bool { return s == whistle.StateAccepted || s == whistle.StateVerifying }))
	}
	if i := lastIndex(h, func(e whistle.Event) bool { return !e.Deadline.IsZero() && e.To == whistle.StateRectifying }); i >= 0 {
		want = append(want, clockFrom(h, i, Rectification, h[i].Deadline, state,
			func(s whistle.State) bool { return s == whistle.StateRectifying }))
	}
	if !c.ReceivedAt.IsZero() {
		k := whistle.Clock{Name: Feedback, Due: p.Deadline(c.ReceivedAt, p.Clocks.Feedback)}
		if at, ok := firstFeedback(c); ok {
			k.Stopped = &at
		}
		want = append(want, k)
	}

	changed := false
	var out []whistle.Clock
	for _, k := range want {
		if old, ok := find(c.Clocks, k.Name); ok && old.Due.Equal(k.Due) {
			k.Escalated = old.Escalated
			changed = changed || !sameStop(old.Stopped, k.Stopped)
		} else {
			changed = true
		}
		out = append(out, k)
	}
	// Keep the clocks Sync does not derive; drop derived ones no longer wanted.
	for _, old := range c.Clocks {
		if old.Name == RewardClaim {
			out = append(out, old)
			continue
		}
		if _, ok := find(want, old.Name); !ok {
			changed = true
		}
	}
	slices.SortFunc(out, func(a, b whistle.Clock) int { return clockOrder(a.Name) - clockOrder(b.Name) })
	c.Clocks = out
	return changed
}

func clockOrder(name string) int {
	return slices.Index([]string{SignFor, Handling, Rectification, Feedback, RewardClaim}, name)
}

// clockFrom builds a clock started by event i that runs while running(state)
// holds; if the case has moved on, it stopped at the event that left.
func clockFrom(h []whistle.Event, i int, name string, due time.Time, state whistle.State, running func(whistle.State) bool) whistle.Clock {
	k := whistle.Clock{Name: name, Due: due.UTC()}
	if running(state) {
		return k
	}
	for _, e := range h[i+1:] {
		if running(e.From) && !running(e.To) {
			at := e.At
			k.Stopped = &at
			return k
		}
	}
	// The starting event itself left the running states (cannot happen with
	// the lifecycle table); stop at it rather than run forever.
	at := h[i].At
	k.Stopped = &at
	return k
}

// feedbackActions are the events that answer the reporter: a conclusion of
// the verification, or closure.
var feedbackActions = []whistle.Action{
	whistle.ActionConcludeSubstantiated, whistle.ActionConcludePartlySubstantiated,
	whistle.ActionConcludeUnsubstantiated, whistle.ActionClose,
}

// firstFeedback is when the reporter was first given feedback: a concluding
// event, or a message from staff, whichever came first.
func firstFeedback(c *whistle.Case) (time.Time, bool) {
	var first time.Time
	for _, e := range c.Lifecycle.History {
		if slices.Contains(feedbackActions, e.Action) {
			first = e.At
			break
		}
	}
	for _, m := range c.Messages {
		if m.From != whistle.RoleReporter && (first.IsZero() || m.At.Before(first)) {
			first = m.At
		}
	}
	return first, !first.IsZero()
}

func lastIndex(h []whistle.Event, f func(whistle.Event) bool) int {
	for i := len(h) - 1; i >= 0; i-- {
		if f(h[i]) {
			return i
		}
	}
	return -1
}

func find(ks []whistle.Clock, name string) (whistle.Clock, bool) {
	for _, k := range ks {
		if k.Name == name {
			return k, true
		}
	}
	return whistle.Clock{}, false
}

func sameStop(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// StartRewardClaim starts (or restarts) the reward claim window when the
// reporter is notified of a reward.
func StartRewardClaim(c *whistle.Case, notifiedAt time.Time, p *policy.Policy) {
	k := whistle.Clock{Name: RewardClaim, Due: p.Deadline(notifiedAt, p.Clocks.RewardClaim).UTC()}
	c.Clocks = slices.DeleteFunc(c.Clocks, func(o whistle.Clock) bool { return o.Name == RewardClaim })
	c.Clocks = append(c.Clocks, k)
}

// Stop stops the named running clock at t (a reward claimed, for instance)
// and reports whether there was such a clock.
func Stop(c *whistle.Case, name string, t time.Time) bool {
	for i := range c.Clocks {
		if c.Clocks[i].Name == name && c.Clocks[i].Stopped == nil {
			c.Clocks[i].Stopped = &t
			return true
		}
	}
	return false
}

// TargetKind says who an escalation step goes to.
type TargetKind string

const (
	// Department: the lead department itself (its case handlers).
	Department TargetKind = "department"
	// Supervisor: the lead department's supervisor (RoleDeptLead).
	Supervisor TargetKind = "supervisor"
	// Coordination: the 安委办 of a jurisdiction (RoleCoordinator).
	Coordination TargetKind = "coordination"
)

// Target is one recipient group of notifications: a kind and a department
// or jurisdiction name.
type Target struct {
	Kind TargetKind
	Name string
}

// Key is the stable string form, e.g. "supervisor:自治区应急管理厅"; it keys
// notification settings.
func (t Target) Key() string { return string(t.Kind) + ":" + t.Name }

// Step is one escalation step of an overdue clock: the N-th (from 1), due At,
// to To.
type Step struct {
	N  int
	At time.Time
	To Target
}

// Jurisdiction is the 安委办 jurisdiction a case belongs to: its city (or
// 宁东能源化工基地), or the region when the city is unknown.
func Jurisdiction(c *whistle.Case) string {
	if c.City != "" {
		return c.City
	}
	return Region
}

// Steps lists the escalation steps of clock k of case c, in order. A stopped
// clock has none.
func Steps(c *whistle.Case, k whistle.Clock, p *policy.Policy) []Step {
	if k.Stopped != nil || c.Lifecycle.Department == "" {
		return nil
	}
	dept := c.Lifecycle.Department
	lastDay := k.Due.Add(-time.Nanosecond) // a period ends at 24:00 of its last day
	if k.Name == RewardClaim {
		return []Step{{N: 1, At: k.Due, To: Target{Department, dept}}}
	}
	jurisdiction := Jurisdiction(c)
	if p.Escalation.SupervisedOneLevelUp.On && (c.Lifecycle.Supervised || c.Lifecycle.Escalated) {
		jurisdiction = Region
	}
	return []Step{
		{N: 1, At: p.Deadline(lastDay, p.Escalation.SupervisorAfter), To: Target{Supervisor, dept}},
		{N: 2, At: p.Deadline(lastDay, p.Escalation.CoordinationAfter), To: Target{Coordination, jurisdiction}},
	}
}

// DueSteps returns the steps of clock k that are due at now and not yet
// taken (k.Escalated counts the steps taken), and the next step still to
// come (N == 0 if none).
func DueSteps(c *whistle.Case, k whistle.Clock, p *policy.Policy, now time.Time) (due []Step, next Step) {
	for _, s := range Steps(c, k, p) {
		switch {
		case s.N <= k.Escalated:
		case !s.At.After(now):
			due = append(due, s)
		case next.N == 0:
			next = s
		}
	}
	return due, next
}
