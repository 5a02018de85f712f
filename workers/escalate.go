package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/queue"
	"whistle/workers/sla"
)

// errUnchanged tells UpdateCase to write nothing.
var errUnchanged = errors.New("unchanged")

// syncClocks re-derives c's clocks and writes them if they changed; it
// returns the case as stored.
func (w *Workers) syncClocks(ctx context.Context, c *whistle.Case) (*whistle.Case, error) {
	probe := *c
	probe.Clocks = append([]whistle.Clock(nil), c.Clocks...)
	if !sla.Sync(&probe, w.pol) {
		return c, nil
	}
	updated, err := w.store.UpdateCase(ctx, c.ID, func(cur *whistle.Case) error {
		if !sla.Sync(cur, w.pol) {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return w.store.Case(ctx, c.ID)
	}
	return updated, err
}

// clockOf loads a case with up-to-date clocks and returns the clock the
// payload names, if that very instance (same due time) still runs.
func (w *Workers) clockOf(ctx context.Context, p queue.ClockPayload) (*whistle.Case, whistle.Clock, bool, error) {
	c, err := w.store.Case(ctx, p.CaseID)
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		return nil, whistle.Clock{}, false, nil
	}
	if err != nil {
		return nil, whistle.Clock{}, false, err
	}
	if c, err = w.syncClocks(ctx, c); err != nil {
		return nil, whistle.Clock{}, false, err
	}
	for _, k := range c.Clocks {
		if k.Name == p.Clock && k.Stopped == nil && k.Due.Unix() == p.Due {
			return c, k, true, nil
		}
	}
	return c, whistle.Clock{}, false, nil
}

// handleSLACheck looks at one due clock: it enqueues the escalation steps
// that are due and schedules the next one. A clock that stopped or
// restarted meanwhile needs nothing.
func (w *Workers) handleSLACheck(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeClock(t.Payload())
	if err != nil {
		return err
	}
	c, k, ok, err := w.clockOf(ctx, p)
	if err != nil || !ok {
		return err
	}
	now := w.now()
	due, next := sla.DueSteps(c, k, w.pol, now)
	for _, s := range due {
		if err := w.queue.Enqueue(ctx, queue.EscalateTask(c.ID, k.Name, k.Due, s.N, 0)); err != nil {
			return err
		}
	}
	if next.N != 0 {
		// The delay is measured on the workers' clock, which tests inject.
		return w.queue.Enqueue(ctx, queue.EscalateTask(c.ID, k.Name, k.Due, next.N, next.At.Sub(now)))
	}
	return nil
}

// handleEscalate takes one escalation step: it tells the step's group
// (delivery records are created once) and then records the step on the
// clock. Telling first means a crash in between repeats an idempotent
// notification rather than losing it.
func (w *Workers) handleEscalate(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeClock(t.Payload())
	if err != nil {
		return err
	}
	if p.Step < 1 {
		return fmt.Errorf("%w: escalation step %d", asynq.SkipRetry, p.Step)
	}
	c, k, ok, err := w.clockOf(ctx, p)
	if err != nil || !ok {
		return err
	}
	steps := sla.Steps(c, k, w.pol)
	if p.Step > len(steps) {
		return fmt.Errorf("%w: clock %s has %d escalation steps, not %d", asynq.SkipRetry, k.Name, len(steps), p.Step)
	}
	s := steps[p.Step-1]
	if s.At.After(w.now()) {
		return fmt.Errorf("escalation step %d of %s not due until %s", s.N, k.Name, s.At.Format(time.RFC3339))
	}
	ev := event{id: fmt.Sprintf("overdue:%s:%s:%d:%d", c.ID, k.Name, k.Due.Unix(), s.N), caseID: c.ID,
		what: whatOverdue, urgent: c.Urgent, clock: k.Name}
	if k.Name == sla.RewardClaim {
		ev.what = whatLapsed
	}
	if err := w.notify.send(ctx, w, ev, s.To); err != nil {
		return err
	}
	_, err = w.store.UpdateCase(ctx, c.ID, func(cur *whistle.Case) error {
		for i := range cur.Clocks {
			ck := &cur.Clocks[i]
			if ck.Name != k.Name || !ck.Due.Equal(k.Due) || ck.Escalated >= s.N {
				continue
			}
			ck.Escalated = s.N
			if ck.Name == sla.RewardClaim {
				// The claim window has lapsed: the clock stops at its end.
				lapsed := ck.Due
				ck.Stopped = &lapsed
			}
			return nil
		}
		return errUnchanged
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// handleSLASync re-derives a case's clocks (the staff console enqueues it
// after a lifecycle change).
func (w *Workers) handleSLASync(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeCase(t.Payload())
	if err != nil {
		return err
	}
	c, err := w.store.Case(ctx, p.CaseID)
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = w.syncClocks(ctx, c)
	return err
}

// syncAllClocks re-derives the clocks of every routed open case (start-up).
func (w *Workers) syncAllClocks(ctx context.Context) error {
	var ids []string
	err := w.store.EachCase(ctx, func(c *whistle.Case) error {
		if c.Lifecycle.Department != "" && c.Lifecycle.State != whistle.StateClosed && sla.Sync(c, w.pol) {
			ids = append(ids, c.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		c, err := w.store.Case(ctx, id)
		if err != nil {
			return err
		}
		if _, err := w.syncClocks(ctx, c); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		w.log.Info("clocks re-derived at start", "cases", len(ids))
	}
	return nil
}
