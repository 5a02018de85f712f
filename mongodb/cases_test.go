package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

var system = whistle.Actor{ID: "triage-worker", Role: whistle.RoleSystem}

func newCase(received time.Time) *whistle.Case {
	return &whistle.Case{
		ID:         whistle.NewID(),
		Channel:    whistle.ChannelWeb,
		ReceivedAt: received.UTC().Truncate(time.Millisecond),
		City:       "银川市",
		County:     "兴庆区",
		Lifecycle:  *whistle.NewLifecycle(),
		Sealed:     whistle.Sealed{Content: []byte("sealed"), Keys: map[string][]byte{"triage:1": []byte("k")}},
	}
}

// route moves a stored case to a department with a sign-for clock.
func route(t testing.TB, db *mongodb.DB, id, dept string, due time.Time) *whistle.Case {
	t.Helper()
	c, err := db.UpdateCase(context.Background(), id, func(c *whistle.Case) error {
		if _, err := c.Lifecycle.Apply(system, whistle.Command{Action: whistle.ActionRoute, Department: dept, Reason: "第三十五条(五)"}, due.Add(-72*time.Hour)); err != nil {
			return err
		}
		c.Clocks = []whistle.Clock{{Name: "sign_for", Due: due.UTC().Truncate(time.Millisecond)}}
		return nil
	})
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	return c
}

func TestStore(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("CreatedCaseReadsBackByIDAndByReceipt", func(t *testing.T) { testCreateAndRead(t, db) })
			t.Run("UnknownIDAndReceiptAreNotFound", func(t *testing.T) { testNotFound(t, db) })
			t.Run("ConcurrentUpdatesAllApplyOnce", func(t *testing.T) { testConcurrentUpdates(t, db) })
			t.Run("FailedUpdateWritesNothing", func(t *testing.T) { testFailedUpdate(t, db) })
			t.Run("QueueFollowsDepartmentAndSortsByDue", func(t *testing.T) { testQueue(t, db) })
			t.Run("PendingMarkersListUnroutedCases", func(t *testing.T) { testPending(t, db) })
			t.Run("DueClocksListsOnlyRunningDueClocks", func(t *testing.T) { testDueClocks(t, db) })
			t.Run("RebuildListsRestoresLostAndDropsStaleEntries", func(t *testing.T) { testRebuild(t, db) })
			t.Run("ConcurrentCreatesSucceedOrFailEachOnItsOwn", func(t *testing.T) { testConcurrentCreates(t, db) })
		})
	}
}

func testCreateAndRead(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	c := newCase(time.Now())
	c.Messages = []whistle.Message{{ID: "m1", At: c.ReceivedAt, From: whistle.RoleReporter, Body: []byte{0, 1, 2}}}
	token := []byte("token-" + c.ID)
	if err := db.CreateCase(ctx, c, token); err != nil {
		t.Fatal(err)
	}
	got, err := db.Case(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.City != "银川市" || string(got.Sealed.Keys["triage:1"]) != "k" || !got.ReceivedAt.Equal(c.ReceivedAt) ||
		got.Lifecycle.State != whistle.StateReceived || len(got.Messages) != 1 || string(got.Messages[0].Body) != "\x00\x01\x02" {
		t.Fatalf("read back %+v", got)
	}
	byReceipt, err := db.CaseByReceipt(ctx, token)
	if err != nil || byReceipt.ID != c.ID {
		t.Fatalf("by receipt: %v %v", byReceipt, err)
	}
}

func testNotFound(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	if _, err := db.Case(ctx, "nosuchcase"); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("Case: %v", err)
	}
	if _, err := db.CaseByReceipt(ctx, []byte("nosuchtoken")); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("CaseByReceipt: %v", err)
	}
	if _, err := db.UpdateCase(ctx, "nosuchcase", func(*whistle.Case) error { return nil }); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("UpdateCase: %v", err)
	}
}

func testConcurrentUpdates(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	c := newCase(time.Now())
	if err := db.CreateCase(ctx, c, []byte("t-"+c.ID)); err != nil {
		t.Fatal(err)
	}
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.UpdateCase(ctx, c.ID, func(c *whistle.Case) error {
				c.Messages = append(c.Messages, whistle.Message{ID: fmt.Sprint(i), From: whistle.RoleReporter})
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Case(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != writers || got.Version != 1+writers {
		t.Fatalf("messages=%d version=%d, want %d and %d (a lost update)", len(got.Messages), got.Version, writers, 1+writers)
	}
}

func testFailedUpdate(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	c := newCase(time.Now())
	if err := db.CreateCase(ctx, c, []byte("t-"+c.ID)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := db.UpdateCase(ctx, c.ID, func(c *whistle.Case) error {
		c.City = "changed"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// An illegal transition is refused by the lifecycle and nothing changes.
	_, err = db.UpdateCase(ctx, c.ID, func(c *whistle.Case) error {
		_, err := c.Lifecycle.Apply(system, whistle.Command{Action: whistle.ActionClose, Reason: "x"}, time.Now())
		return err
	})
	if code := whistle.ErrorCode(err); code != whistle.EILLEGAL && code != whistle.EFORBIDDEN {
		t.Fatalf("illegal transition err = %v", err)
	}
	got, _ := db.Case(ctx, c.ID)
	if got.City != "银川市" || got.Version != 1 || got.Lifecycle.State != whistle.StateReceived {
		t.Fatalf("a failed update wrote: %+v", got)
	}
}

func testQueue(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	dept := "自治区住房城乡建设厅-" + whistle.NewID() // fresh queue per run
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var ids []string
	// Dues spread over several weeks, inserted out of order.
	for _, days := range []int{20, 1, 9, 3, 15} {
		c := newCase(base)
		if err := db.CreateCase(ctx, c, []byte("t-"+c.ID)); err != nil {
			t.Fatal(err)
		}
		route(t, db, c.ID, dept, base.AddDate(0, 0, days))
		ids = append(ids, c.ID)
	}
	want := []string{ids[1], ids[3], ids[2], ids[4], ids[0]}
	rows, more, err := db.Queue(ctx, dept, "银川市", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if more || len(rows) != 5 {
		t.Fatalf("rows=%d more=%v", len(rows), more)
	}
	for i, r := range rows {
		if r.CaseID != want[i] || r.State != whistle.StateRouted {
			t.Fatalf("row %d = %+v, want case %s routed", i, r, want[i])
		}
	}
	page, more, err := db.Queue(ctx, dept, "银川市", 2, 2)
	if err != nil || !more || len(page) != 2 || page[0].CaseID != want[2] || page[1].CaseID != want[3] {
		t.Fatalf("page 2: %+v more=%v err=%v", page, more, err)
	}
	// Re-routing moves the case out of this queue into the other one.
	other := dept + "-other"
	if _, err := db.UpdateCase(ctx, ids[1], func(c *whistle.Case) error {
		c.Lifecycle.Department = other
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, _, _ = db.Queue(ctx, dept, "银川市", 0, 10)
	if len(rows) != 4 || rows[0].CaseID != ids[3] {
		t.Fatalf("after reroute: %+v", rows)
	}
	rows, _, _ = db.Queue(ctx, other, "银川市", 0, 10)
	if len(rows) != 1 || rows[0].CaseID != ids[1] {
		t.Fatalf("other queue: %+v", rows)
	}
	if rows, _, _ := db.Queue(ctx, dept, "石嘴山市", 0, 10); len(rows) != 0 {
		t.Fatalf("another city sees %d rows", len(rows))
	}
}

func testPending(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	before, err := db.PendingCases(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	c := newCase(time.Now())
	c.Urgent = true
	if err := db.CreateCase(ctx, c, []byte("t-"+c.ID)); err != nil {
		t.Fatal(err)
	}
	after, err := db.PendingCases(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 || !containsPending(after, c.ID, true) {
		t.Fatalf("pending before=%d after=%d", len(before), len(after))
	}
	if err := db.ClearPending(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	after, _ = db.PendingCases(ctx, 1000)
	if containsPending(after, c.ID, true) {
		t.Fatal("marker still there after ClearPending")
	}
}

func containsPending(ps []mongodb.Pending, id string, urgent bool) bool {
	for _, p := range ps {
		if p.CaseID == id && p.Urgent == urgent {
			return true
		}
	}
	return false
}

func testDueClocks(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	now := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC) // far from other subtests' clocks
	dept := "自治区应急管理厅"
	due := newCase(now)
	db.CreateCase(ctx, due, []byte("t-"+due.ID))
	route(t, db, due.ID, dept, now.Add(-time.Hour))
	later := newCase(now)
	db.CreateCase(ctx, later, []byte("t-"+later.ID))
	route(t, db, later.ID, dept, now.Add(48*time.Hour))
	stopped := newCase(now)
	db.CreateCase(ctx, stopped, []byte("t-"+stopped.ID))
	route(t, db, stopped.ID, dept, now.Add(-2*time.Hour))
	if _, err := db.UpdateCase(ctx, stopped.ID, func(c *whistle.Case) error {
		at := now
		c.Clocks[0].Stopped = &at
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := db.DueClocks(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range got {
		switch e.CaseID {
		case due.ID:
			found = e.Name == "sign_for"
		case later.ID, stopped.ID:
			t.Fatalf("listed %+v", e)
		}
	}
	if !found {
		t.Fatalf("due clock missing from %+v", got)
	}
}

func testRebuild(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	dept := "宁夏消防救援总队-" + whistle.NewID()
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	lost := newCase(now)
	db.CreateCase(ctx, lost, []byte("t-"+lost.ID))
	lostRouted := route(t, db, lost.ID, dept, now.Add(24*time.Hour))
	unrouted := newCase(now)
	db.CreateCase(ctx, unrouted, []byte("t-"+unrouted.ID))
	if err := db.ClearPending(ctx, unrouted.ID); err != nil { // as if lost between writes
		t.Fatal(err)
	}
	if err := db.DeleteQueueEntry(ctx, lostRouted); err != nil {
		t.Fatal(err)
	}
	// A stale entry: a case re-routed by a write that never reached its lists.
	moved := newCase(now)
	db.CreateCase(ctx, moved, []byte("t-"+moved.ID))
	movedRouted := route(t, db, moved.ID, dept, now.Add(2*time.Hour))
	movedRouted.Lifecycle.Department = dept + "-elsewhere"
	if err := db.ReplaceCaseOnly(ctx, movedRouted); err != nil {
		t.Fatal(err)
	}
	if rows, _, _ := db.Queue(ctx, dept, "银川市", 0, 10); len(rows) != 1 || rows[0].CaseID != moved.ID {
		t.Fatalf("setup: queue has %+v, want only the stale entry", rows)
	}
	if err := db.RebuildLists(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _, err := db.Queue(ctx, dept, "银川市", 0, 10)
	if err != nil || len(rows) != 1 || rows[0].CaseID != lost.ID {
		t.Fatalf("after rebuild: %+v %v", rows, err)
	}
	if rows, _, _ := db.Queue(ctx, dept+"-elsewhere", "银川市", 0, 10); len(rows) != 1 || rows[0].CaseID != moved.ID {
		t.Fatalf("moved case not in its new queue: %+v", rows)
	}
	p, _ := db.PendingCases(ctx, 10000)
	if !containsPending(p, unrouted.ID, false) {
		t.Fatal("pending marker not restored")
	}
}

// Concurrent CreateCase calls are group-committed; each caller must still see
// its own outcome: a case whose id is taken fails alone, the rest land.
func testConcurrentCreates(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	taken := newCase(time.Now())
	if err := db.CreateCase(ctx, taken, []byte("t-"+taken.ID)); err != nil {
		t.Fatal(err)
	}
	const n = 40
	errs := make([]error, n)
	cases := make([]*whistle.Case, n)
	var wg sync.WaitGroup
	for i := range n {
		c := newCase(time.Now())
		if i == n/2 {
			c.ID = taken.ID // a collision in the middle of a batch
		}
		cases[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.CreateCase(ctx, c, []byte(fmt.Sprintf("tok-%d-%s", i, c.ID)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if err == nil {
				t.Fatal("a case with a taken id was accepted")
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := db.CaseByReceipt(ctx, []byte(fmt.Sprintf("tok-%d-%s", i, cases[i].ID)))
		if err != nil || got.ID != cases[i].ID {
			t.Fatalf("case %d not readable by receipt: %v", i, err)
		}
	}
}

func TestCreateCaseAfterCloseIsUnavailableNotAPanic(t *testing.T) {
	db := testenv.Stores()[0].Open(t)
	ctx := context.Background()
	db.Close(ctx)
	db.Close(ctx) // twice: the test cleanup closes again too
	c := newCase(time.Now())
	if err := db.CreateCase(ctx, c, []byte("t-"+c.ID)); whistle.ErrorCode(err) != whistle.EUNAVAILABLE {
		t.Fatalf("err = %v, want %s", err, whistle.EUNAVAILABLE)
	}
}
