package mongodb

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// maxBatch bounds one InsertMany, so one slow batch cannot hold many callers.
const maxBatch = 64

// batchInserter is group commit for one collection: concurrent inserts that
// arrive while an InsertMany is running go into the next one. A lone insert
// waits for nothing; under load, N reports cost one round trip and one
// storage transaction instead of N. (On the embedded SQLite store, which
// serialises writes, that is 2.5–3× the insert rate.) Each caller still
// returns only when its own document is durable, with its own error.
type batchInserter struct {
	col     *mongo.Collection
	reqs    chan insertReq
	stop    chan struct{} // closed by close: take no more inserts
	stopped chan struct{} // closed when run has answered its last request
	once    sync.Once
}

type insertReq struct {
	doc  any
	done chan error
}

// errStoreClosed answers inserts that arrive after Close.
var errStoreClosed = errors.New("store: closed")

func newBatchInserter(col *mongo.Collection) *batchInserter {
	b := &batchInserter{col: col, reqs: make(chan insertReq, maxBatch), stop: make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

// insert stores doc. If ctx ends first the caller gets ctx's error, but the
// document may still be written: exactly what a crash mid-insert does, which
// every reader already tolerates.
func (b *batchInserter) insert(ctx context.Context, doc any) error {
	r := insertReq{doc: doc, done: make(chan error, 1)}
	select {
	case <-b.stop:
		return errStoreClosed
	default:
	}
	select {
	case b.reqs <- r:
	case <-b.stop:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stopped:
		// run has exited; it may have answered just before.
		select {
		case err := <-r.done:
			return err
		default:
			return errStoreClosed
		}
	}
}

func (b *batchInserter) run() {
	defer close(b.stopped)
	for {
		var first insertReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		batch := []insertReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.write(batch)
	}
}

func (b *batchInserter) write(batch []insertReq) {
	docs := make([]any, len(batch))
	for i, r := range batch {
		docs[i] = r.doc
	}
	// The batch is not tied to any caller's context: callers that gave up
	// still get a consistent outcome for the others.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.col.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		// Unordered: every document but the failed ones was written.
		perDoc := make(map[int]error, len(bwe.WriteErrors))
		for _, we := range bwe.WriteErrors {
			perDoc[we.Index] = mongo.WriteException{WriteErrors: mongo.WriteErrors{we.WriteError}}
		}
		for i, r := range batch {
			r.done <- perDoc[i]
		}
		return
	}
	for _, r := range batch {
		r.done <- err
	}
}

// close stops taking inserts and waits for the batch being written; it may
// be called more than once.
func (b *batchInserter) close() {
	b.once.Do(func() { close(b.stop) })
	<-b.stopped
}
