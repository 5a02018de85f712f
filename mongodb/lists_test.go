package mongodb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
)

// TestConcurrentRoutingKeepsEveryListEntry routes 30 cases of one department
// and city at once: every case must be in the department queue and every
// clock in the clock list. FerretDB applies $set as read-modify-write, so
// unserialised concurrent updates of one list document lost entries.
func TestConcurrentRoutingKeepsEveryListEntry(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			ctx := context.Background()
			dept := "自治区应急管理厅" + whistle.NewID()
			due := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Millisecond)
			ids := make([]string, 30)
			for i := range ids {
				c := newCase(time.Now())
				if err := db.CreateCase(ctx, c, []byte("r-"+c.ID)); err != nil {
					t.Fatal(err)
				}
				ids[i] = c.ID
			}
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					route(t, db, id, dept, due)
				}()
			}
			wg.Wait()
			rows, _, err := db.Queue(ctx, dept, "银川市", 0, 100)
			if err != nil || len(rows) != len(ids) {
				t.Fatalf("queue has %d of %d cases (%v)", len(rows), len(ids), err)
			}
			clocks, err := db.DueClocks(ctx, due)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, id := range ids {
				want[id] = true
			}
			for _, k := range clocks {
				delete(want, k.CaseID)
			}
			if len(want) != 0 {
				t.Fatalf("%d routed cases missing from the clock list", len(want))
			}
		})
	}
}
