package embedded

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
)

// TestConcurrentStartsDoNotRace starts several servers at once, as parallel
// tests do; run under -race it guards the lock around ferretdb.New.
func TestConcurrentStartsDoNotRace(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := StartFerretDB(context.Background(), Backend{SQLiteDir: t.TempDir()}, quiet)
			if err != nil {
				errs <- err
				return
			}
			errs <- f.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSecondProcessLockOnTheDataDirFails(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// flock is per open file description: a second open in the same process
	// conflicts just as another process would.
	if _, err := LockDir(dir); err == nil {
		t.Fatal("a second lock on the data dir succeeded")
	}
}
