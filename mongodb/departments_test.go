package mongodb_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestGroupKeys(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("ConcurrentCreatesKeepTheFirstKey", func(t *testing.T) { testGroupKeyFirstWins(t, db) })
			t.Run("UnknownGroupIsNotFound", func(t *testing.T) { testGroupKeyNotFound(t, db) })
			t.Run("IncompleteKeyIsRefused", func(t *testing.T) { testGroupKeyIncomplete(t, db) })
		})
	}
}

func groupKey(name string, fill byte) mongodb.GroupKey {
	return mongodb.GroupKey{Kind: "department", Name: name, Version: 1, Holder: "department:" + name + ":v1",
		Public: bytes.Repeat([]byte{fill}, 32), Escrow: []byte{fill, fill}, EscrowHolder: "custodian:v1",
		CreatedAt: time.Now()}
}

func testGroupKeyFirstWins(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	name := "自治区应急管理厅" + whistle.NewID()
	var wg sync.WaitGroup
	got := make([]*mongodb.GroupKey, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = db.CreateGroupKey(ctx, groupKey(name, byte(i+1)))
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i].Public, got[0].Public) {
			t.Fatalf("creators disagree on the key: %x vs %x", got[i].Public, got[0].Public)
		}
	}
	stored, err := db.GroupKey(ctx, "department", name)
	if err != nil || !bytes.Equal(stored.Public, got[0].Public) || stored.Holder != "department:"+name+":v1" || stored.Version != 1 {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	all, err := db.GroupKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range all {
		if k.Name == name {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("group listed %d times", n)
	}
}

func testGroupKeyNotFound(t *testing.T, db *mongodb.DB) {
	_, err := db.GroupKey(context.Background(), "coordination", "无此地")
	if whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("got %v, want not found", err)
	}
}

func testGroupKeyIncomplete(t *testing.T, db *mongodb.DB) {
	k := groupKey("x", 1)
	k.Public = k.Public[:31]
	if _, err := db.CreateGroupKey(context.Background(), k); err == nil {
		t.Fatal("a 31-byte public key was stored")
	}
}
