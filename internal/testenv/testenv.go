// Package testenv gives tests the real backends Whistle runs on: the embedded
// FerretDB on SQLite and miniredis always, plus FerretDB on PostgreSQL and a
// real redis-server when WHISTLE_TEST_POSTGRES_URL / WHISTLE_TEST_REDIS_ADDR
// are set (CI sets both). A backend that is configured but unreachable fails
// the test: CI must never pass by silently skipping a server.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"whistle/embedded"
	"whistle/mongodb"
)

// Env var names read by tests.
const (
	PostgresEnv = "WHISTLE_TEST_POSTGRES_URL"
	RedisEnv    = "WHISTLE_TEST_REDIS_ADDR"
)

// Store is one storage backend under test.
type Store struct {
	Name string
	Open func(t testing.TB) *mongodb.DB
}

// Stores returns every storage backend available to this run.
func Stores() []Store {
	s := []Store{{Name: "ferretdb-sqlite", Open: openSQLite}}
	if url := os.Getenv(PostgresEnv); url != "" {
		s = append(s, Store{Name: "ferretdb-postgresql", Open: func(t testing.TB) *mongodb.DB { return openPostgres(t, url) }})
	}
	return s
}

// Quiet is a logger that drops everything (FerretDB logs every connection).
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openSQLite(t testing.TB) *mongodb.DB {
	dir := t.TempDir()
	f, err := embedded.StartFerretDB(context.Background(), embedded.Backend{SQLiteDir: dir}, Quiet())
	if err != nil {
		t.Fatal(err)
	}
	return open(t, f, mongodb.Config{URI: f.URI, Database: "whistle", EmbeddedSQLiteDir: dir})
}

func openPostgres(t testing.TB, url string) *mongodb.DB {
	f, err := embedded.StartFerretDB(context.Background(), embedded.Backend{PostgreSQLURL: url}, Quiet())
	if err != nil {
		t.Fatalf("%s=%s is set but FerretDB cannot use it: %v", PostgresEnv, url, err)
	}
	// One database (a PostgreSQL schema) per test keeps parallel tests apart.
	return open(t, f, mongodb.Config{URI: f.URI, Database: "t" + randomHex(6), SingleProcess: true})
}

func open(t testing.TB, f *embedded.FerretDB, cfg mongodb.Config) *mongodb.DB {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := mongodb.Open(ctx, cfg)
	if err != nil {
		f.Close()
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cfg.EmbeddedSQLiteDir == "" {
			db.DropDatabase(ctx)
		}
		db.Close(ctx)
		f.Close()
	})
	return db
}

// Redis is one Redis backend under test.
type Redis struct {
	Name string
	// Start returns the address and database number of a Redis that is empty
	// for this test.
	Start func(t testing.TB) (addr string, db int)
}

// Redises returns every Redis backend available to this run.
func Redises() []Redis {
	r := []Redis{{Name: "miniredis", Start: startMiniredis}}
	if addr := os.Getenv(RedisEnv); addr != "" {
		r = append(r, Redis{Name: "redis-server", Start: func(t testing.TB) (string, int) { return realRedis(t, addr) }})
	}
	return r
}

func startMiniredis(t testing.TB) (string, int) {
	m, err := embedded.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m.Addr(), 0
}

// realRedis hands each test its own logical database (1–15, round robin via a
// counter in database 0) and empties it, so concurrent test binaries do not
// see each other's queues.
func realRedis(t testing.TB, addr string) (string, int) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	n, err := c.Incr(ctx, "whistle:test:db").Result()
	if err != nil {
		t.Fatalf("%s=%s is set but Redis is unreachable: %v", RedisEnv, addr, err)
	}
	db := int(n%15) + 1
	dc := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer dc.Close()
	if err := dc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dc := redis.NewClient(&redis.Options{Addr: addr, DB: db})
		dc.FlushDB(context.Background())
		dc.Close()
	})
	return addr, db
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
