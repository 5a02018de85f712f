package mongodb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"whistle"
	"whistle/embedded"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestWorkOrderStore(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			testWorkOrders(t, db)
			t.Run("ConcurrentTakeOversHaveOneWinner", func(t *testing.T) { testWorkOrderConcurrentTakeOver(t, db) })
		})
	}
	// Production MongoDB runs several processes: the conditions go into the
	// filter instead of under the process-local lock. FerretDB serves those
	// filters too (by scanning), which checks what they select; it does not
	// apply a conditional update atomically, so the concurrent take-over is
	// left to MongoDB's single-document atomicity and not run here.
	t.Run("multi-process-filters", func(t *testing.T) {
		f, err := embedded.StartFerretDB(context.Background(), embedded.Backend{SQLiteDir: t.TempDir()}, testenv.Quiet())
		if err != nil {
			t.Fatal(err)
		}
		db, err := mongodb.Open(context.Background(), mongodb.Config{URI: f.URI})
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			db.Close(context.Background())
			f.Close()
		})
		testWorkOrders(t, db)
	})
}

func testWorkOrders(t *testing.T, db *mongodb.DB) {
	t.Run("FirstReserveWinsLaterOnesSeeIt", func(t *testing.T) { testWorkOrderReserve(t, db) })
	t.Run("ConcurrentReservesHaveOneWinner", func(t *testing.T) { testWorkOrderConcurrentReserve(t, db) })
	t.Run("TakeOverNeedsTheSeenReservationAndOneWins", func(t *testing.T) { testWorkOrderTakeOver(t, db) })
	t.Run("ReleaseOnlyRemovesAnUnfinishedOwnReservation", func(t *testing.T) { testWorkOrderRelease(t, db) })
}

var woT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func reserve(t *testing.T, db *mongodb.DB, orderNo, caseID string, at time.Time) (*mongodb.WorkOrder, bool) {
	t.Helper()
	w, ok, err := db.ReserveWorkOrder(context.Background(), mongodb.WorkOrder{OrderNo: orderNo, CaseID: caseID, Source: "12345", ReservedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return w, ok
}

func testWorkOrderReserve(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	no := "NX" + whistle.NewID()
	first, ok := reserve(t, db, no, "case-a", woT0)
	if !ok || first.CaseID != "case-a" || first.Done {
		t.Fatalf("first reserve: %+v %v", first, ok)
	}
	again, ok := reserve(t, db, no, "case-b", woT0.Add(time.Second))
	if ok || again.CaseID != "case-a" || !again.ReservedAt.Equal(woT0) || again.Source != "12345" {
		t.Fatalf("second reserve: %+v %v, want the first reservation back", again, ok)
	}
	if err := db.CompleteWorkOrder(ctx, no); err != nil {
		t.Fatal(err)
	}
	got, err := db.WorkOrder(ctx, no)
	if err != nil || !got.Done || got.CaseID != "case-a" {
		t.Fatalf("after complete: %+v %v", got, err)
	}
	if err := db.CompleteWorkOrder(ctx, "nosuch"+no); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("complete unknown: %v", err)
	}
}

func testWorkOrderConcurrentReserve(t *testing.T, db *mongodb.DB) {
	no := "NX" + whistle.NewID()
	const n = 8
	won := make([]bool, n)
	seen := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, ok, err := db.ReserveWorkOrder(context.Background(), mongodb.WorkOrder{OrderNo: no, CaseID: whistle.NewID(), ReservedAt: time.Now()})
			if err != nil {
				t.Error(err)
				return
			}
			won[i], seen[i] = ok, w.CaseID
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if won[i] {
			winners++
		}
		if seen[i] != seen[0] {
			t.Fatalf("reservers disagree on the case: %v", seen)
		}
	}
	if winners != 1 {
		t.Fatalf("%d reservers won, want 1", winners)
	}
}

func testWorkOrderTakeOver(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	no := "NX" + whistle.NewID()
	w, _ := reserve(t, db, no, "case-a", woT0)
	if ok, err := db.TakeOverWorkOrder(ctx, no, woT0.Add(time.Second), woT0.Add(time.Hour)); err != nil || ok {
		t.Fatalf("take-over with a reserved_at never seen: %v %v", ok, err)
	}
	if ok, err := db.TakeOverWorkOrder(ctx, no, w.ReservedAt, woT0.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("take-over with the seen reserved_at: %v %v", ok, err)
	}
	if ok, err := db.TakeOverWorkOrder(ctx, no, w.ReservedAt, woT0.Add(2*time.Hour)); err != nil || ok {
		t.Fatalf("a second take-over from the same sighting: %v %v", ok, err)
	}
	got, _ := db.WorkOrder(ctx, no)
	if !got.ReservedAt.Equal(woT0.Add(time.Hour)) || got.CaseID != "case-a" {
		t.Fatalf("after take-over: %+v (case must stay, reserved_at must move)", got)
	}
	if err := db.CompleteWorkOrder(ctx, no); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.TakeOverWorkOrder(ctx, no, got.ReservedAt, woT0.Add(3*time.Hour)); err != nil || ok {
		t.Fatalf("take-over of a done order: %v %v", ok, err)
	}
	if ok, err := db.TakeOverWorkOrder(ctx, "nosuch"+no, woT0, woT0); err != nil || ok {
		t.Fatalf("take-over of an unknown order: %v %v", ok, err)
	}
}

func testWorkOrderConcurrentTakeOver(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	no := "NX" + whistle.NewID()
	w, _ := reserve(t, db, no, "case-a", woT0)
	const n = 6
	wins := make(chan bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.TakeOverWorkOrder(ctx, no, w.ReservedAt, woT0.Add(time.Duration(i+1)*time.Minute))
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}()
	}
	wg.Wait()
	close(wins)
	count := 0
	for ok := range wins {
		if ok {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d take-overs won, want 1", count)
	}
}

func testWorkOrderRelease(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	no := "NX" + whistle.NewID()
	reserve(t, db, no, "case-a", woT0)
	if err := db.ReleaseWorkOrder(ctx, no, "case-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WorkOrder(ctx, no); err != nil {
		t.Fatalf("a release naming another case removed the reservation: %v", err)
	}
	if err := db.ReleaseWorkOrder(ctx, no, "case-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WorkOrder(ctx, no); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("released reservation still there: %v", err)
	}
	done := "NX" + whistle.NewID()
	reserve(t, db, done, "case-c", woT0)
	if err := db.CompleteWorkOrder(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := db.ReleaseWorkOrder(ctx, done, "case-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WorkOrder(ctx, done); err != nil {
		t.Fatalf("a done reservation was released: %v", err)
	}
}
