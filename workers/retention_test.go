package workers_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"whistle"
	"whistle/intake"
	"whistle/internal/testenv"
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

func testRetention(t *testing.T, store testenv.Store) {
	ctx := context.Background()
	h := newHarness(t, store, testenv.Redises()[0])
	clock := &fakeClock{t: cst("2026-03-02 10:00")}
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
		if _, err := h.store.UpdateCase(ctx, id, func(c *whistle.Case) error {
			_, err := c.Lifecycle.Apply(s.who, s.cmd, cst(s.at))
			if err == nil && s.cmd.Action == whistle.ActionConcludeUnsubstantiated {
				c.Messages = append(c.Messages, whistle.Message{ID: "m1", At: cst(s.at), From: whistle.RoleHandler, By: "h1", Body: []byte("sealed")})
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

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
