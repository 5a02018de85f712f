package mongodb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestAPIKeyStore(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("CreateReadRevokeAndReuseTheName", func(t *testing.T) { testAPIKeyLifecycle(t, db) })
			t.Run("ConcurrentCreatesOfOneNameLeaveOneActiveKey", func(t *testing.T) { testAPIKeyConcurrentCreate(t, db) })
			t.Run("CrashLeftoverNameIsTakenOverOnlyWhenStale", func(t *testing.T) { testAPIKeyDanglingName(t, db) })
		})
	}
}

func testAPIKeyLifecycle(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	name := "12345平台-" + whistle.NewID()
	first := mongodb.APIKey{KeyID: whistle.NewID(), Name: name, Hash: []byte("h1"), CreatedAt: t0}
	if err := db.CreateAPIKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err := db.APIKey(ctx, first.KeyID)
	if err != nil || got.Name != name || string(got.Hash) != "h1" || got.RevokedAt != nil || !got.CreatedAt.Equal(t0) {
		t.Fatalf("read back %+v %v", got, err)
	}
	dup := mongodb.APIKey{KeyID: whistle.NewID(), Name: name, Hash: []byte("h2"), CreatedAt: t0}
	if err := db.CreateAPIKey(ctx, dup); whistle.ErrorCode(err) != whistle.ECONFLICT {
		t.Fatalf("second active key for one name: %v, want conflict", err)
	}
	if err := db.RevokeAPIKey(ctx, name, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err = db.APIKey(ctx, first.KeyID)
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked key reads %+v %v", got, err)
	}
	if err := db.RevokeAPIKey(ctx, name, t0.Add(2*time.Hour)); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("revoking a name with no active key: %v", err)
	}
	second := mongodb.APIKey{KeyID: whistle.NewID(), Name: name, Hash: []byte("h3"), CreatedAt: t0.Add(3 * time.Hour)}
	if err := db.CreateAPIKey(ctx, second); err != nil {
		t.Fatalf("a revoked name is free again: %v", err)
	}
	all, err := db.APIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mine []mongodb.APIKey
	for _, k := range all {
		if k.Name == name {
			mine = append(mine, k)
		}
	}
	if len(mine) != 2 || mine[0].KeyID != first.KeyID || mine[0].RevokedAt == nil || mine[1].KeyID != second.KeyID || mine[1].RevokedAt != nil {
		t.Fatalf("listed %+v, want the revoked first key then the active second", mine)
	}
	if _, err := db.APIKey(ctx, "nosuchkey"); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("unknown key id: %v", err)
	}
}

func testAPIKeyConcurrentCreate(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	name := "race-" + whistle.NewID()
	const creators = 6
	errs := make([]error, creators)
	var wg sync.WaitGroup
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.CreateAPIKey(ctx, mongodb.APIKey{KeyID: whistle.NewID(), Name: name, Hash: []byte{byte(i)}, CreatedAt: time.Now()})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch whistle.ErrorCode(err) {
		case "":
			ok++
		case whistle.ECONFLICT:
		default:
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", ok)
	}
}

func testAPIKeyDanglingName(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	fresh, stale := "fresh-"+whistle.NewID(), "stale-"+whistle.NewID()
	if err := db.LeaveDanglingAPIKeyName(ctx, fresh, whistle.NewID(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.LeaveDanglingAPIKeyName(ctx, stale, whistle.NewID(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A young leftover may be a create in flight: the name stays taken, and
	// there is no key to revoke.
	if err := db.CreateAPIKey(ctx, mongodb.APIKey{KeyID: whistle.NewID(), Name: fresh, Hash: []byte("h"), CreatedAt: time.Now()}); whistle.ErrorCode(err) != whistle.ECONFLICT {
		t.Fatalf("create over an in-flight name: %v, want conflict", err)
	}
	if err := db.RevokeAPIKey(ctx, fresh, time.Now()); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("revoke of a name without key: %v, want not found", err)
	}
	k := mongodb.APIKey{KeyID: whistle.NewID(), Name: stale, Hash: []byte("h"), CreatedAt: time.Now()}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("create over a stale leftover: %v", err)
	}
	if err := db.RevokeAPIKey(ctx, stale, time.Now()); err != nil {
		t.Fatalf("the new key is the name's active key: %v", err)
	}
	got, err := db.APIKey(ctx, k.KeyID)
	if err != nil || got.RevokedAt == nil {
		t.Fatalf("new key after revoke: %+v %v", got, err)
	}
}
