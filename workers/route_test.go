package workers_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"whistle"
	"whistle/crypto"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
	"whistle/triage"
	"whistle/workers"
	"whistle/workers/sla"
)

func TestTriage(t *testing.T) {
	for _, store := range testenv.Stores() {
		for _, redis := range testenv.Redises() {
			t.Run(store.Name+"/"+redis.Name, func(t *testing.T) {
				h := newHarness(t, store, redis)
				w := h.start(h.deps())
				t.Run("RoutesOnceAndSealsForTheLeadAndCoordination", func(t *testing.T) { testRouting(t, h) })
				t.Run("RepeatedTaskChangesNothing", func(t *testing.T) { testRepeatedTriage(t, h) })
				t.Run("ParaphraseIsLinkedAsDuplicate", func(t *testing.T) { testDuplicates(t, h) })
				t.Run("RepeatedDedupeTaskChangesNothing", func(t *testing.T) { testRepeatedDedupe(t, h) })
				t.Run("ReferralIsSealedForTheDisciplineCommission", func(t *testing.T) { testReferral(t, h) })
				t.Run("GroupKeysAreEscrowedToTheCustodian", func(t *testing.T) { testEscrow(t, h, w) })
			})
		}
	}
}

// openAs recovers a group's private key from its escrow copy with the
// custodian key — the path a member's copy is made from — and opens the
// case's data key with it.
func openAs(t *testing.T, h *harness, c *whistle.Case, kind, name string) crypto.DataKey {
	t.Helper()
	k, err := h.store.GroupKey(context.Background(), kind, name)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := crypto.OpenKeyPair(k.Escrow, k.Holder, h.custodian.KeyPair)
	if err != nil {
		t.Fatalf("escrow copy of %s does not open with the custodian key: %v", name, err)
	}
	defer kp.Wipe()
	sealed, ok := c.Sealed.Keys[k.Holder]
	if !ok {
		t.Fatalf("case has no copy for %s; holders %v", k.Holder, slices.Collect(mapKeys(c.Sealed.Keys)))
	}
	dek, err := crypto.OpenDataKey(sealed, c.ID, kp)
	if err != nil {
		t.Fatal(err)
	}
	return dek
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func testRouting(t *testing.T, h *harness) {
	id := h.submit(craneReport, "银川市", false)
	c := h.routed(id)
	if c.Lifecycle.State != whistle.StateRouted || c.Routing == nil || c.Routing.Lead == "" || len(c.Routing.Basis) == 0 {
		t.Fatalf("routed case: state %s routing %+v", c.Lifecycle.State, c.Routing)
	}
	if c.Lifecycle.Department != c.Routing.Lead || routeEvents(c) != 1 {
		t.Fatalf("department %q vs lead %q, %d route events", c.Lifecycle.Department, c.Routing.Lead, routeEvents(c))
	}
	ev := c.Lifecycle.History[0]
	if ev.Role != whistle.RoleSystem || ev.Reason == "" || ev.Reason[:len(c.Routing.Principle)] != c.Routing.Principle {
		t.Fatalf("route event %+v: want the system role and the principle and articles as reason", ev)
	}
	if hasPrefix(c.Sealed.Keys, "triage:") {
		t.Fatal("the triage copy of the data key survived routing")
	}
	for _, prefix := range []string{"department:", "coordination:银川市", "coordination:" + sla.Region, "custodian:", "reporter:"} {
		if !hasPrefix(c.Sealed.Keys, prefix) {
			t.Fatalf("no %s copy of the data key", prefix)
		}
	}
	dek := openAs(t, h, c, workers.KindDepartment, c.Routing.Lead)
	explanation, err := crypto.OpenField(dek, c.ID, workers.FieldExplanation, c.Sealed.Explanation)
	if err != nil || len(explanation) == 0 {
		t.Fatalf("explanation does not open with the lead department's key: %v", err)
	}
	openAs(t, h, c, workers.KindCoordination, "银川市")
	i := slices.IndexFunc(c.Clocks, func(k whistle.Clock) bool { return k.Name == sla.SignFor })
	if i < 0 || !c.Clocks[i].Due.Equal(h.policy.Deadline(c.Routing.RoutedAt, h.policy.Clocks.SignFor)) {
		t.Fatalf("sign-for clock %+v, want due %s", c.Clocks, h.policy.Deadline(c.Routing.RoutedAt, h.policy.Clocks.SignFor))
	}
	waitFor(t, "pending marker cleared", func() bool {
		ps, err := h.store.PendingCases(context.Background(), 1000)
		return err == nil && !slices.ContainsFunc(ps, func(p mongodb.Pending) bool { return p.CaseID == id })
	})
	// The lead department has no notification settings in this test: the
	// delivery is recorded as failed, visibly, rather than dropped.
	failed, err := h.store.FailedDeliveries(context.Background(), time.Now(), 1)
	if err != nil || !slices.ContainsFunc(failed, func(d mongodb.Delivery) bool {
		return d.CaseID == id && d.Target == "department:"+c.Routing.Lead
	}) {
		t.Fatalf("no failed delivery recorded for the unconfigured department: %v %v", failed, err)
	}
}

func testRepeatedTriage(t *testing.T, h *harness) {
	id := h.submit(fireExitReport, "石嘴山市", false)
	first := h.routed(id)
	// Intake and the sweep may enqueue again at any time; a task for a
	// routed case must not route it again.
	waitFor(t, "triage task done", func() bool { return queueDrained(t, h.redis) })
	if err := h.queue.Enqueue(context.Background(), queue.TriageTask(id, false)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "repeated task done", func() bool { return queueDrained(t, h.redis) })
	again, err := h.store.Case(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if routeEvents(again) != 1 || again.Version != first.Version {
		t.Fatalf("repeated triage: %d route events, version %d → %d", routeEvents(again), first.Version, again.Version)
	}
}

func testDuplicates(t *testing.T, h *harness) {
	// Duplicates are linked by dedupe:link after routing; the first report
	// must be linked before the second looks for it.
	first := h.deduped(h.submit(craneReport, "银川市", false))
	second := h.deduped(h.submit(cranePara, "银川市", false))
	i := slices.IndexFunc(second.Duplicates, func(d whistle.Duplicate) bool { return d.CaseID == first.ID })
	if i < 0 || second.Duplicates[i].Score < triage.DuplicateThreshold {
		t.Fatalf("paraphrase duplicates %+v, want %s", second.Duplicates, first.ID)
	}
	other := h.deduped(h.submit(fireExitReport, "石嘴山市", false))
	if slices.ContainsFunc(other.Duplicates, func(d whistle.Duplicate) bool { return d.CaseID == first.ID }) {
		t.Fatal("a different matter was linked as a duplicate")
	}
}

func testRepeatedDedupe(t *testing.T, h *harness) {
	ctx := context.Background()
	h.deduped(h.submit(craneReport, "银川市", false))
	c := h.deduped(h.submit(cranePara, "银川市", false))
	if len(c.Duplicates) == 0 {
		t.Fatal("the paraphrase has no duplicates to keep")
	}
	// The triage task computed this fingerprint while it could read the
	// text and stored it for dedupe:link; the bands hold the same bytes.
	fp := triage.NewFingerprint(cranePara, h.keys.CurrentSecrets().Blinder(workers.BlindPurpose))
	stored, err := h.store.CaseFingerprint(ctx, c.ID)
	if err != nil || !bytes.Equal(stored, workers.EncodeValues(fp.Values)) {
		t.Fatalf("linked fingerprint is not the one triage computed (%v)", err)
	}
	// A redelivered or re-enqueued task links nothing twice and writes
	// nothing when the duplicates are unchanged — whether it finds the
	// fingerprint linked and gone, or still pending because a worker died
	// between recording the duplicates and deleting it.
	tests := []struct {
		name    string
		pending bool
	}{
		{"AfterTheLinkFindsNothingToDo", false},
		{"AfterACrashBeforeTheDeleteLinksAgainAndDeletesIt", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pending {
				if err := h.store.PutPendingFingerprint(ctx, mongodb.PendingFingerprint{CaseID: c.ID,
					FP: workers.EncodeValues(fp.Values), Bands: fp.Bands, At: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				if err := h.queue.Enqueue(ctx, queue.DedupeTask(c.ID)); err != nil {
					t.Fatal(err)
				}
			}
			again := h.deduped(c.ID)
			if again.Version != c.Version || !slices.Equal(again.Duplicates, c.Duplicates) {
				t.Fatalf("repeated dedupe: version %d → %d, duplicates %+v → %+v", c.Version, again.Version, c.Duplicates, again.Duplicates)
			}
			if after, err := h.store.CaseFingerprint(ctx, c.ID); err != nil || !bytes.Equal(after, stored) {
				t.Fatalf("repeated dedupe changed the linked fingerprint (%v)", err)
			}
		})
	}
}

func testReferral(t *testing.T, h *harness) {
	c := h.routed(h.submit(officialsReport, "吴忠市", false))
	if !c.Routing.Referral {
		t.Fatalf("triage did not flag a bribery report for referral: %+v", c.Routing)
	}
	openAs(t, h, c, workers.KindDepartment, triage.DisciplineCommission)
}

func testEscrow(t *testing.T, h *harness, w *workers.Workers) {
	ctx := context.Background()
	for _, d := range h.router.Departments() {
		k, err := h.store.GroupKey(ctx, workers.KindDepartment, d.Name)
		if err != nil {
			t.Fatalf("department %s has no key after Start: %v", d.Name, err)
		}
		if k.EscrowHolder != h.keys.CustodianRecipient().Holder {
			t.Fatalf("escrow of %s is held by %s", d.Name, k.EscrowHolder)
		}
	}
	if err := w.EnsureKeys(ctx); err != nil {
		t.Fatalf("EnsureKeys is not idempotent: %v", err)
	}
}

func TestUrgentReportsAreSweptToTheCriticalQueue(t *testing.T) {
	for _, redis := range testenv.Redises() {
		t.Run(redis.Name, func(t *testing.T) {
			h := newHarness(t, testenv.Stores()[0], redis)
			w, err := workers.New(h.deps()) // not started: only the sweep runs
			if err != nil {
				t.Fatal(err)
			}
			urgent := h.submit(craneReport, "银川市", true)
			plain := h.submit(fireExitReport, "石嘴山市", false)
			if err := w.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			ins := asynq.NewInspector(h.redis.ConnOpt())
			defer ins.Close()
			for id, q := range map[string]string{urgent: queue.Critical, plain: queue.Default} {
				if _, err := ins.GetTaskInfo(q, queue.TypeTriage+":"+id); err != nil {
					t.Fatalf("triage task of %s not in queue %s: %v", id, q, err)
				}
			}
		})
	}
}
