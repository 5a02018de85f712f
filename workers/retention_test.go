package workers_test

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"whistle"
	"whistle/intake"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
)

// TestRetentionShredsClosedCasesAfterTheirPeriod closes a case with an
// attachment and a message, moves the injected clock past five years, and
// checks that a dry run only lists it and a real run leaves nothing
// readable but keeps the statistics fields.
func TestRetentionShredsClosedCasesAfterTheirPeriod(t *testing.T) {
	for _, store := range testenv.Stores() {
		t.Run(store.Name, func(t *testing.T) { testRetention(t, store) })
	}
}

// closeCase takes a routed case to closure on 13 March 2026, with a
// message from the handler on the way.
func closeCase(t *testing.T, h *harness, id, lead string) {
	t.Helper()
	handler := whistle.Actor{ID: "h1", Role: whistle.RoleHandler, Department: lead}
	coordinator := whistle.Actor{ID: "c1", Role: whistle.RoleCoordinator}
	steps := []struct {
		at  string
		who whistle.Actor
		cmd whistle.Command
	}{
		{"2026-03-03 09:00", handler, whistle.Command{Action: whistle.ActionAccept}},
		{"2026-03-04 09:00", handler, whistle.Command{Action: whistle.ActionStartVerification}},
		{"2026-03-10 09:00", handler, whistle.Command{Action: whistle.ActionConcludeUnsubstantiated, Reason: "现场检查出口畅通"}},
		{"2026-03-12 09:00", coordinator, whistle.Command{Action: whistle.ActionPassReview}},
		{"2026-03-13 09:00", coordinator, whistle.Command{Action: whistle.ActionClose}},
	}
	for _, s := range steps {
		if _, err := h.store.UpdateCase(context.Background(), id, func(c *whistle.Case) error {
			_, err := c.Lifecycle.Apply(s.who, s.cmd, cst(s.at))
			if err == nil && s.cmd.Action == whistle.ActionConcludeUnsubstantiated {
				c.Messages = append(c.Messages, whistle.Message{ID: "m1", At: cst(s.at), From: whistle.RoleHandler, By: "h1", Body: []byte("sealed")})
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func testRetention(t *testing.T, store testenv.Store) {
	ctx := context.Background()
	h := newHarness(t, store, testenv.Redises()[0])
	clock := testenv.NewClock(cst("2026-03-02 10:00"))
	h.now = clock.Now
	w := h.start(h.deps())

	_, id, err := h.intake.Submit(ctx, intake.Submission{Channel: whistle.ChannelWeb, City: "石嘴山市",
		Report:      whistle.Report{Text: fireExitReport},
		Attachments: []intake.Evidence{{Name: "出口.png", Type: "image/png", Body: bytes.NewReader(bytes.Repeat([]byte{7}, 3000))}}})
	if err != nil {
		t.Fatal(err)
	}
	young := h.routed(h.submit(craneReport, "银川市", false))
	c := h.deduped(id)
	if fp, _ := h.store.CaseFingerprint(ctx, id); fp == nil {
		t.Fatal("no duplicate fingerprint stored to shred")
	}
	lead := c.Lifecycle.Department
	closeCase(t, h, id, lead)

	// Five years from 13 March 2026 end on 13 March 2031.
	clock.Set(cst("2031-03-13 12:00"))
	if got, err := w.Retention(ctx, true); err != nil || len(got) != 0 {
		t.Fatalf("on the last day of the period: %v %v, want nothing yet", got, err)
	}
	clock.Set(cst("2031-03-14 00:01"))
	listed, err := w.Retention(ctx, true)
	if err != nil || len(listed) != 1 || listed[0].CaseID != id || listed[0].Attachments != 1 || listed[0].Messages != 1 || listed[0].KeyCopies == 0 {
		t.Fatalf("dry run lists %+v, %v; want exactly the closed case", listed, err)
	}
	if after, _ := h.store.Case(ctx, id); after.Sealed.Shredded || len(after.Sealed.Keys) == 0 {
		t.Fatal("the dry run changed the case")
	}

	shredded, err := w.Retention(ctx, false)
	if err != nil || len(shredded) != 1 {
		t.Fatalf("shredded %+v, %v", shredded, err)
	}
	got, err := h.store.Case(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Sealed.Shredded || len(got.Sealed.Keys) != 0 || got.Sealed.Content != nil || got.Sealed.Explanation != nil ||
		got.Messages != nil || got.Identity != nil || got.Attachments[0].Name != nil {
		t.Fatalf("case not shredded: %+v", got.Sealed)
	}
	for _, e := range got.Lifecycle.History {
		if e.Reason != "" {
			t.Fatalf("free-text reason kept: %+v", e)
		}
	}
	// Statistics stay.
	if got.Routing == nil || got.Routing.Lead != lead || got.City != "石嘴山市" || got.Kind == "" ||
		got.Lifecycle.State != whistle.StateClosed || got.Attachments[0].Type != "image/png" || got.Attachments[0].Size != 3000 {
		t.Fatalf("statistics fields lost: %+v", got)
	}
	if _, err := io.ReadAll(h.store.OpenBlob(ctx, id, c.Attachments[0].ID, c.Attachments[0].Chunk)); err == nil {
		t.Fatal("the attachment blob is still readable")
	}
	if fp, _ := h.store.CaseFingerprint(ctx, id); fp != nil {
		t.Fatal("the duplicate fingerprint survived")
	}
	if again, _ := w.Retention(ctx, false); len(again) != 0 {
		t.Fatalf("a shredded case is shredded again: %+v", again)
	}
	if still, _ := h.store.Case(ctx, young.ID); len(still.Sealed.Keys) == 0 {
		t.Fatal("an open case lost its keys")
	}
}

// TestShreddedCaseKeepsNoFingerprint: retention deletes a fingerprint still
// waiting to be linked along with the rest, and a dedupe:link task that
// runs after the shred, or across it, leaves no fingerprint behind.
func TestShreddedCaseKeepsNoFingerprint(t *testing.T) {
	for _, store := range testenv.Stores() {
		t.Run(store.Name, func(t *testing.T) { testShredFingerprint(t, store) })
	}
}

func testShredFingerprint(t *testing.T, store testenv.Store) {
	ctx := context.Background()
	h := newHarness(t, store, testenv.Redises()[0])
	clock := testenv.NewClock(cst("2026-03-02 10:00"))
	h.now = clock.Now
	w, err := workers.New(h.deps())
	if err != nil {
		t.Fatal(err)
	}
	var shredWhileLinking atomic.Value // the case whose dedupe:link is overtaken by retention
	w.SetHook(func(point, id string) {
		if point == workers.HookDedupeRead && shredWhileLinking.Load() == id {
			if _, err := w.Retention(ctx, false); err != nil {
				t.Errorf("retention while linking: %v", err)
			}
		}
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)

	retention := func(t *testing.T, id string) {
		if shredded, err := w.Retention(ctx, false); err != nil || len(shredded) != 1 || shredded[0].CaseID != id {
			t.Fatalf("shredded %+v, %v; want %s", shredded, err, id)
		}
	}
	fp := triage.NewFingerprint(fireExitReport, h.keys.CurrentSecrets().Blinder(workers.BlindPurpose))
	putPending := func(t *testing.T, id string) {
		if err := h.store.PutPendingFingerprint(ctx, mongodb.PendingFingerprint{CaseID: id,
			FP: workers.EncodeValues(fp.Values), Bands: fp.Bands, At: clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	link := func(t *testing.T, id string) {
		if err := h.queue.Enqueue(ctx, queue.DedupeTask(id)); err != nil {
			t.Fatal(err)
		}
		h.deduped(id)
	}
	// Each scenario starts from a closed case past its retention period
	// whose fingerprint is linked and, as if its task had been lost, also
	// still pending (the injected clock stands still, so no sweep
	// re-enqueues it).
	scenarios := []struct {
		name  string
		shred func(t *testing.T, id string)
	}{
		{"RetentionDeletesThePendingFingerprint", retention},
		{"TaskAfterTheShredLinksNothing", func(t *testing.T, id string) {
			retention(t, id)
			putPending(t, id) // however it got there
			link(t, id)
		}},
		{"TaskOvertakenByTheShredDeletesWhatItLinked", func(t *testing.T, id string) {
			shredWhileLinking.Store(id)
			link(t, id)
		}},
	}
	ids := make([]string, len(scenarios))
	for i := range ids {
		ids[i] = h.deduped(h.submit(fireExitReport, "石嘴山市", false)).ID
	}
	clock.Set(cst("2031-03-14 00:01"))
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			id := ids[i]
			c, err := h.store.Case(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			closeCase(t, h, id, c.Lifecycle.Department)
			putPending(t, id)
			sc.shred(t, id)
			if c, err := h.store.Case(ctx, id); err != nil || !c.Sealed.Shredded {
				t.Fatalf("case not shredded (%v)", err)
			}
			if p, err := h.store.PendingFingerprint(ctx, id); p != nil || err != nil {
				t.Fatalf("the pending fingerprint survived the shred (%v)", err)
			}
			if fp, err := h.store.CaseFingerprint(ctx, id); fp != nil || err != nil {
				t.Fatalf("the linked fingerprint survived the shred (%v)", err)
			}
		})
	}
}
