package intake

import (
	"context"
	"testing"
	"time"

	"whistle/crypto"
	"whistle/internal/testenv"
	"whistle/mongodb"
	"whistle/queue"
)

// testEnv is a service on real backends: the embedded FerretDB/SQLite store,
// miniredis, and a development keyset in a temporary directory.
type testEnv struct {
	svc      *Service
	store    *mongodb.DB
	keys     *crypto.Keyset
	finance  crypto.KeyPair
	deps     Deps
	keysDir  string
	redisURL string
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	store := testenv.Stores()[0].Open(t)
	addr, db := testenv.Redises()[0].Start(t)
	q := queue.NewClient(queue.Config{Addr: addr, DB: db})
	t.Cleanup(func() { q.Close() })
	dir := t.TempDir()
	keys, _, err := crypto.EnsureDevKeyset(dir)
	if err != nil {
		t.Fatal(err)
	}
	finance := crypto.GenerateKeyPair()
	deps := Deps{
		Store: store, Queue: q, Keys: keys, Logger: testenv.Quiet(),
		Finance: func(context.Context) (crypto.Recipient, error) {
			return crypto.Recipient{Holder: crypto.HolderDepartment("finance", 1), Key: finance.Public}, nil
		},
		DepartmentName: func(code string) string { return map[string]string{"yjglt": "应急管理厅"}[code] },
		Now:            time.Now,
	}
	svc, err := NewService(deps)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{svc: svc, store: store, keys: keys, finance: finance, deps: deps, keysDir: dir, redisURL: addr}
}
