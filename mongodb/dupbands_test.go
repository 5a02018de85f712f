package mongodb_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestDuplicateBands(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("CasesSharingBandsAreCandidatesMostSharedFirst", func(t *testing.T) { testCandidates(t, db) })
			t.Run("FullBandTakesNoMoreCases", func(t *testing.T) { testBandCap(t, db) })
			t.Run("DeletedFingerprintLeavesItsBands", func(t *testing.T) { testDeleteFingerprint(t, db) })
			t.Run("IDsThatCannotBeFieldNamesAreRefused", func(t *testing.T) {
				if _, err := db.LinkFingerprint(context.Background(), "a.b", nil, nil, time.Now(), 10, 10); err == nil {
					t.Fatal("a dotted id was accepted")
				}
			})
		})
	}
}

func token(s string) []byte { return []byte(s + "-token-" + "0123456789abcdef") }

func testCandidates(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	salt := whistle.NewID()
	a, b, c := whistle.NewID(), whistle.NewID(), whistle.NewID()
	t0 := time.Now()
	link := func(id string, at time.Time, limit int, bands ...string) []string {
		var bs [][]byte
		for _, x := range bands {
			bs = append(bs, token(salt+x))
		}
		var got []string
		for range 2 { // idempotent: the second run finds the same candidates, never itself
			var err error
			if got, err = db.LinkFingerprint(ctx, id, []byte("fp-"+id), bs, at, 100, limit); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	if got := link(a, t0, 10, "1", "2", "3"); len(got) != 0 {
		t.Fatalf("first case has candidates %v", got)
	}
	if got := link(b, t0.Add(time.Minute), 10, "3", "4"); !slices.Equal(got, []string{a}) {
		t.Fatalf("b's candidates %v, want [a]", got)
	}
	link(c, t0.Add(2*time.Minute), 10, "9")
	d := whistle.NewID()
	if got := link(d, t0.Add(3*time.Minute), 10, "1", "2", "3", "5"); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("candidates %v, want [%s %s] (a shares 3 bands, b one)", got, a, b)
	}
	// a and d share two bands each with the next report: the more recent, d, comes first.
	if got := link(whistle.NewID(), t0.Add(4*time.Minute), 1, "1", "3"); !slices.Equal(got, []string{d}) {
		t.Fatalf("limit 1: %v, want the more recent of the tied cases %s", got, d)
	}
	fp, err := db.CaseFingerprint(ctx, b)
	if err != nil || string(fp) != "fp-"+b {
		t.Fatalf("fingerprint %q, %v", fp, err)
	}
	if fp, err := db.CaseFingerprint(ctx, whistle.NewID()); fp != nil || err != nil {
		t.Fatalf("unknown case fingerprint %q, %v", fp, err)
	}
}

func testBandCap(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	band := [][]byte{token(whistle.NewID())}
	var ids []string
	for range 4 {
		id := whistle.NewID()
		ids = append(ids, id)
		if _, err := db.LinkFingerprint(ctx, id, nil, band, time.Now(), 3, 10); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.LinkFingerprint(ctx, whistle.NewID(), nil, band, time.Now(), 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := slices.Clone(ids[:3])
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("band lists %v, want the first three %v", got, want)
	}
}

func testDeleteFingerprint(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	band := [][]byte{token(whistle.NewID())}
	a, b := whistle.NewID(), whistle.NewID()
	for _, id := range []string{a, b} {
		if _, err := db.LinkFingerprint(ctx, id, []byte("x"), band, time.Now(), 10, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteFingerprint(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteFingerprint(ctx, a); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	got, _ := db.LinkFingerprint(ctx, whistle.NewID(), nil, band, time.Now(), 10, 10)
	if !slices.Equal(got, []string{b}) {
		t.Fatalf("after delete the band lists %v", got)
	}
	if fp, _ := db.CaseFingerprint(ctx, a); fp != nil {
		t.Fatal("fingerprint kept after delete")
	}
}

func TestPendingFingerprints(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("StoredFingerprintReadsBackWholeAndARepeatReplacesIt", func(t *testing.T) { testPendingRoundTrip(t, db) })
			t.Run("SweepListsCaseAndTimeOldestFirst", func(t *testing.T) { testPendingList(t, db) })
			t.Run("ClearedFingerprintIsGoneAndClearingTwiceIsFine", func(t *testing.T) { testPendingClear(t, db) })
		})
	}
}

func putPending(t *testing.T, db *mongodb.DB, id, fp string, at time.Time) mongodb.PendingFingerprint {
	t.Helper()
	p := mongodb.PendingFingerprint{CaseID: id, FP: []byte(fp), Bands: [][]byte{token(fp + "1"), token(fp + "2")}, At: at}
	if err := db.PutPendingFingerprint(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func testPendingRoundTrip(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	id, at := whistle.NewID(), time.Now().UTC().Truncate(time.Millisecond)
	putPending(t, db, id, "first", at)
	want := putPending(t, db, id, "again", at.Add(time.Second)) // the triage task retried
	got, err := db.PendingFingerprint(ctx, id)
	if err != nil || got == nil || got.CaseID != id || string(got.FP) != "again" || !got.At.Equal(want.At) ||
		!slices.EqualFunc(got.Bands, want.Bands, bytes.Equal) {
		t.Fatalf("pending fingerprint %+v, %v; want %+v", got, err, want)
	}
	if got, err := db.PendingFingerprint(ctx, whistle.NewID()); got != nil || err != nil {
		t.Fatalf("unknown case: %+v, %v", got, err)
	}
}

func testPendingList(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond) // older than the other subtests' entries
	older, newer := whistle.NewID(), whistle.NewID()
	putPending(t, db, newer, "newer", t0.Add(time.Minute))
	putPending(t, db, older, "older", t0)
	list, err := db.PendingFingerprints(ctx, 2)
	if err != nil || len(list) != 2 || list[0].CaseID != older || list[1].CaseID != newer || !list[0].At.Equal(t0) {
		t.Fatalf("sweep list %+v, %v; want %s then %s", list, err, older, newer)
	}
	if list[0].FP != nil || list[0].Bands != nil {
		t.Fatal("the sweep list carries the fingerprints it does not need")
	}
	if list, err := db.PendingFingerprints(ctx, 1); err != nil || len(list) != 1 || list[0].CaseID != older {
		t.Fatalf("limit 1: %+v, %v", list, err)
	}
}

func testPendingClear(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	id := whistle.NewID()
	putPending(t, db, id, "linked", time.Now())
	for range 2 { // the handler deletes it last; a repeat deletes nothing
		if err := db.ClearPendingFingerprint(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.PendingFingerprint(ctx, id); got != nil || err != nil {
		t.Fatalf("cleared fingerprint still there: %+v, %v", got, err)
	}
	list, err := db.PendingFingerprints(ctx, 100)
	if err != nil || slices.ContainsFunc(list, func(p mongodb.PendingFingerprint) bool { return p.CaseID == id }) {
		t.Fatalf("cleared fingerprint still listed (%v)", err)
	}
}
