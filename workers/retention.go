package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/queue"
)

// Expired is a closed case past the retention period.
type Expired struct {
	CaseID      string
	ClosedAt    time.Time
	ExpiredAt   time.Time
	KeyCopies   int // sealed copies of the data key that will be deleted
	Messages    int
	Attachments int
	Identity    bool
}

// handleRetention is the daily retention run.
func (w *Workers) handleRetention(ctx context.Context, t *asynq.Task) error {
	if _, err := queue.DecodeSweep(t.Payload()); err != nil {
		return err
	}
	shredded, err := w.Retention(ctx, false)
	if len(shredded) > 0 {
		w.log.Info("retention: cases crypto-shredded", "cases", len(shredded))
	}
	return err
}

// Retention finds the closed cases whose retention period (policy
// retention.closed_cases, counted from the close event) has passed and,
// unless dryRun, crypto-shreds them: every sealed copy of the data key, the
// content, explanation, messages, attachment blobs and names, the identity
// vault, free-text reasons in the history, and the duplicate fingerprint
// (linked or still pending) are deleted. What statistics need stays: ids,
// channel, dates, jurisdiction, kind, urgency, routing (department and cited
// articles), states and attachment types and sizes. It returns what it
// shredded (or would).
func (w *Workers) Retention(ctx context.Context, dryRun bool) ([]Expired, error) {
	now := w.now()
	var out []Expired
	err := w.store.EachCase(ctx, func(c *whistle.Case) error {
		if e, ok := w.expired(c, now); ok {
			out = append(out, e)
		}
		return nil
	})
	if err != nil || dryRun {
		return out, err
	}
	for i, e := range out {
		if err := w.shred(ctx, e.CaseID); err != nil {
			return out[:i], fmt.Errorf("retention: case %s: %w", e.CaseID, err)
		}
	}
	return out, nil
}

func (w *Workers) expired(c *whistle.Case, now time.Time) (Expired, bool) {
	if c.Lifecycle.State != whistle.StateClosed || c.Sealed.Shredded {
		return Expired{}, false
	}
	var closed time.Time
	for _, e := range c.Lifecycle.History {
		if e.Action == whistle.ActionClose {
			closed = e.At
		}
	}
	if closed.IsZero() {
		return Expired{}, false
	}
	until := w.pol.Deadline(closed, w.pol.Retention.ClosedCases)
	if until.After(now) {
		return Expired{}, false
	}
	return Expired{CaseID: c.ID, ClosedAt: closed, ExpiredAt: until, KeyCopies: len(c.Sealed.Keys),
		Messages: len(c.Messages), Attachments: len(c.Attachments), Identity: c.Identity != nil}, true
}

// shred deletes the attachment blobs and a fingerprint still waiting to be
// linked first (a crash before the case write leaves nothing readable that
// was not before, and the next run shreds the case), then writes the
// shredded case, then drops the linked fingerprint. What a dedupe:link task
// that read the pending fingerprint before it went links is deleted either
// by that last step or by the task, which then finds the case shredded.
func (w *Workers) shred(ctx context.Context, id string) error {
	c, err := w.store.Case(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range c.Attachments {
		if err := w.store.DeleteBlob(ctx, id, a.ID, a.Chunk); err != nil {
			return err
		}
	}
	if err := w.store.ClearPendingFingerprint(ctx, id); err != nil {
		return err
	}
	_, err = w.store.UpdateCase(ctx, id, func(cur *whistle.Case) error {
		if cur.Sealed.Shredded {
			return errUnchanged
		}
		cur.Sealed = whistle.Sealed{Keys: map[string][]byte{}, Shredded: true}
		cur.Messages = nil
		cur.Identity = nil
		for i := range cur.Attachments {
			cur.Attachments[i].Name, cur.Attachments[i].Chunk = nil, 0
		}
		for i := range cur.Lifecycle.History {
			cur.Lifecycle.History[i].Reason = ""
		}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return err
	}
	return w.store.DeleteFingerprint(ctx, id)
}
