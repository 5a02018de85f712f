package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/queue"
)

// handleReconcile is the minute sweep task.
func (w *Workers) handleReconcile(ctx context.Context, t *asynq.Task) error {
	if _, err := queue.DecodeSweep(t.Payload()); err != nil {
		return err
	}
	return w.Reconcile(ctx)
}

// Reconcile is one sweep: it enqueues whatever the store says is due and no
// task may hold any more — because Redis lost it, or an enqueue after a
// write failed. Task ids are derived from the state, so what is still
// queued collapses with what the sweep adds:
//   - every stored but unrouted case (pending marker) → triage:report, on the
//     critical queue when urgent; a marker older than the policy's grace
//     whose case is gone or already routed is removed;
//   - every fingerprint still waiting to be linked a sweep interval after
//     it was stored (its triage task enqueued it then) → dedupe:link;
//   - every running clock that is due → sla:check;
//   - every notification delivery not settled yet → notify:deliver.
//
// Redis being down ends the sweep at the first failed enqueue; the store
// keeps everything, and the next sweep starts over. Reconcile keeps no state
// of its own: several processes may sweep at once without harm.
func (w *Workers) Reconcile(ctx context.Context) error {
	now := w.now()
	pending, err := w.store.PendingCases(ctx, w.pol.Sweep.Batch.Value)
	if err != nil {
		return err
	}
	grace := w.pol.Sweep.OrphanMarkerGrace.Duration()
	for _, p := range pending {
		if now.Sub(p.At) > grace {
			// An old marker: its case may be gone (a submission that crashed
			// half-way) or routed by hand after its triage task was archived.
			c, err := w.store.Case(ctx, p.CaseID)
			gone := whistle.ErrorCode(err) == whistle.ENOTFOUND
			if err != nil && !gone {
				return err
			}
			if gone || c.Lifecycle.State != whistle.StateReceived {
				w.log.Warn("sweep: removing a stale pending marker", "case", p.CaseID, "case_exists", !gone)
				if err := w.store.ClearPending(ctx, p.CaseID); err != nil {
					return err
				}
				continue
			}
		}
		if err := w.queue.Enqueue(ctx, queue.TriageTask(p.CaseID, p.Urgent)); err != nil {
			return fmt.Errorf("sweep: enqueue triage: %w", err)
		}
	}

	unlinked, err := w.store.PendingFingerprints(ctx, w.pol.Sweep.Batch.Value)
	if err != nil {
		return err
	}
	// A younger one has its task from the triage run that stored it.
	linkGrace := w.pol.Sweep.Interval.Duration()
	relinked := 0
	for _, p := range unlinked {
		if now.Sub(p.At) < linkGrace {
			continue
		}
		if err := w.queue.Enqueue(ctx, queue.DedupeTask(p.CaseID)); err != nil {
			return fmt.Errorf("sweep: enqueue dedupe: %w", err)
		}
		relinked++
	}

	due, err := w.store.DueClocks(ctx, now)
	if err != nil {
		return err
	}
	recheck := w.pol.Escalation.Recheck.Duration()
	for _, k := range due {
		if err := w.queue.Enqueue(ctx, queue.SLACheckTask(k.CaseID, k.Name, k.Due, recheck)); err != nil {
			return fmt.Errorf("sweep: enqueue clock check: %w", err)
		}
	}

	ids, err := w.store.PendingDeliveries(ctx, now, w.deliveryWindowDays())
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := w.queue.Enqueue(ctx, queue.NotifyTask(id, w.pol.Notify.MaxAttempts.Value)); err != nil {
			return fmt.Errorf("sweep: enqueue notification: %w", err)
		}
	}
	if len(pending)+relinked+len(due)+len(ids) > 0 {
		w.log.Info("sweep", "pending_cases", len(pending), "unlinked_fingerprints", relinked, "due_clocks", len(due),
			"pending_deliveries", len(ids))
	}
	return nil
}

// deliveryWindowDays is how many days of pending-delivery lists the sweep
// reads: long enough to cover every retry of a delivery (from the policy's
// attempts and backoff), plus the day boundary.
func (w *Workers) deliveryWindowDays() int {
	var total time.Duration
	for n := range w.pol.Notify.MaxAttempts.Value {
		total += backoff(n, w.pol.Notify.BackoffFirst.Duration(), w.pol.Notify.BackoffMax.Duration())
	}
	return int(total/(24*time.Hour)) + 2
}
