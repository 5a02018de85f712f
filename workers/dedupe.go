package workers

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/queue"
	"whistle/triage"
)

// errShredded tells UpdateCase that retention got to the case first.
var errShredded = errors.New("case shredded")

// handleDedupe links a report's pending fingerprint (computed and stored by
// the triage task, which alone can read the text) into the duplicate bands,
// scores the cases sharing a band with it, records the probable duplicates
// on the case, whatever its state, and deletes the pending fingerprint —
// last, so that a crash before it leaves the fingerprint for the sweep to
// bring the task back. It is off the routing write — one store write per
// band, about 64 — and on the low queue: duplicates are advice to the
// handler, while routing starts the statutory clocks. Safe to repeat:
// linking is idempotent, the duplicates are written only when changed, and
// without a pending fingerprint there is nothing left to do.
func (w *Workers) handleDedupe(ctx context.Context, t *asynq.Task) error {
	p, err := queue.DecodeDedupe(t.Payload())
	if err != nil {
		return err
	}
	pending, err := w.store.PendingFingerprint(ctx, p.CaseID)
	if err != nil {
		return err
	}
	if pending == nil {
		return nil // linked already (this is a repeat), or shredded
	}
	c, err := w.store.Case(ctx, p.CaseID)
	if whistle.ErrorCode(err) == whistle.ENOTFOUND {
		w.log.Warn("dedupe: case not found", "case", p.CaseID)
		return w.store.ClearPendingFingerprint(ctx, p.CaseID)
	}
	if err != nil {
		return err
	}
	if c.Sealed.Shredded {
		// Linking now would bring back the fingerprint retention deleted;
		// the pending one goes too.
		return w.store.ClearPendingFingerprint(ctx, c.ID)
	}
	w.at(hookDedupeRead, c.ID)
	dups, err := w.duplicates(ctx, c, triage.Fingerprint{Values: decodeValues(pending.FP), Bands: pending.Bands})
	if err != nil {
		return err
	}
	_, err = w.store.UpdateCase(ctx, c.ID, func(cur *whistle.Case) error {
		if cur.Sealed.Shredded {
			return errShredded
		}
		if slices.Equal(cur.Duplicates, dups) {
			return errUnchanged
		}
		cur.Duplicates = dups
		return nil
	})
	switch {
	case errors.Is(err, errShredded):
		// Retention shredded the case while this task linked it, and may
		// have deleted the fingerprint before the link: delete it again.
		if err := w.store.DeleteFingerprint(ctx, c.ID); err != nil {
			return err
		}
	case err != nil && !errors.Is(err, errUnchanged):
		return err
	}
	return w.store.ClearPendingFingerprint(ctx, c.ID)
}

// duplicates links the report's blinded fingerprint into the band buckets
// and scores the candidates sharing a band with it.
func (w *Workers) duplicates(ctx context.Context, c *whistle.Case, fp triage.Fingerprint) ([]whistle.Duplicate, error) {
	if len(fp.Bands) == 0 {
		return nil, nil
	}
	pol := w.pol.Duplicates
	candidates, err := w.store.LinkFingerprint(ctx, c.ID, encodeValues(fp.Values), fp.Bands, c.ReceivedAt,
		pol.MaxCasesPerBand.Value, pol.MaxCandidates.Value)
	if err != nil {
		return nil, err
	}
	var out []whistle.Duplicate
	for _, id := range candidates {
		stored, err := w.store.CaseFingerprint(ctx, id)
		if err != nil {
			return nil, err
		}
		if s := triage.Similarity(fp, triage.Fingerprint{Values: decodeValues(stored)}); s >= triage.DuplicateThreshold {
			out = append(out, whistle.Duplicate{CaseID: id, Score: s})
		}
	}
	slices.SortFunc(out, func(a, b whistle.Duplicate) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.CaseID, b.CaseID)
	})
	return out, nil
}

// encodeValues packs the fingerprint's values as length-prefixed bytes.
func encodeValues(vs [][]byte) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(len(v)))
		b = append(b, v...)
	}
	return b
}

// decodeValues unpacks encodeValues; malformed input gives nil (similar to nothing).
func decodeValues(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n {
			return nil
		}
		out = append(out, b[1:1+n])
		b = b[1+n:]
	}
	return out
}
