// Package mongodb is Whistle's storage: every read and write of MongoDB (or of
// the embedded FerretDB, which speaks the same protocol) happens here.
//
// Design rules, all forced by running the same code on MongoDB and on FerretDB
// v1 (shared/docs/FERRETDB.md):
//   - one case = one document; every change to a case is a single-document
//     write guarded by a version field (optimistic concurrency);
//   - every hot read is an exact `{_id: …}` lookup, the only query FerretDB can
//     serve from an index. Lists (department queues, pending work, running
//     clocks) are "bucket" documents keyed by _id that hold a map of small
//     entries; they are derived from the cases and rebuilt by Reconcile;
//   - no transactions, $lookup, $facet, TTL or partial indexes; aggregation
//     only with the stages both servers run correctly.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"

	"whistle"
	"whistle/embedded"
)

// Collection names. Each is created at start so that indexes (and, on the
// embedded default, the SQLite _id expression index) exist before any write.
const (
	colCases      = "cases"
	colReceipts   = "receipts"   // receipt lookup token → case id
	colPending    = "pending"    // cases stored but not yet routed (the outbox)
	colBuckets    = "buckets"    // derived list documents: queues, clocks
	colWorkOrders = "workorders" // 12345 order number → case id (idempotent import)
	colAPIKeys    = "apikeys"
	colUsers      = "users"
	colDepts      = "departments"
	colAudit      = "audit"
	colBlobs      = "blobs" // sealed attachment chunks
	colDupBands   = "dupbands"
	colPendingFP  = "pendingdedupe" // fingerprints computed at routing, not yet linked (the dedupe outbox)
	colSessions   = "sessions"
)

// collections lists every collection, so that one place says what the
// store holds and Open creates them all before the first write.
var collections = []string{
	colCases, colReceipts, colPending, colBuckets, colWorkOrders, colAPIKeys,
	colUsers, colDepts, colAudit, colBlobs, colDupBands, colPendingFP, colSessions, colNotifications,
}

// Config says where the store lives.
type Config struct {
	URI      string // mongodb:// URI
	Database string
	// EmbeddedSQLiteDir is set when URI points at the embedded FerretDB on
	// SQLite. The store then adds the _id expression indexes and, because the
	// embedded default is a single process, checks versions under a
	// process-local lock instead of in the filter (see updateCase).
	EmbeddedSQLiteDir string
	// SingleProcess selects the process-local version check without SQLite
	// (embedded FerretDB on PostgreSQL in tests).
	SingleProcess bool
}

// DB is an open store.
type DB struct {
	client *mongo.Client
	db     *mongo.Database
	cfg    Config
	locks  *stripedLock // nil unless single-process
	now    func() time.Time
	// inserts group-commits the writes of CreateCase, per collection.
	inserts map[string]*batchInserter
	// knownParts caches bucket directory entries already written, saving a write per put.
	knownParts sync.Map
}

// Open connects, checks the server answers, and ensures collections and
// indexes exist (idempotently).
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Database == "" {
		cfg.Database = "whistle"
	}
	opts := options.Client().ApplyURI(cfg.URI).
		SetServerSelectionTimeout(5 * time.Second).
		SetTimeout(30 * time.Second)
	if cfg.EmbeddedSQLiteDir == "" && !cfg.SingleProcess {
		// Production MongoDB is a replica set: acknowledge a write only once a
		// majority has it, so a receipt shown to a reporter survives failover.
		opts.SetWriteConcern(writeconcern.Majority())
	}
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to MongoDB: %w", err)
	}
	d := &DB{client: client, db: client.Database(cfg.Database), cfg: cfg, now: time.Now}
	if cfg.EmbeddedSQLiteDir != "" || cfg.SingleProcess {
		d.locks = newStripedLock(256)
	}
	if err := d.Ping(ctx); err != nil {
		client.Disconnect(context.Background())
		return nil, err
	}
	if err := d.ensureSchema(ctx); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("prepare collections: %w", err)
	}
	d.inserts = map[string]*batchInserter{}
	for _, name := range []string{colPending, colReceipts, colCases} {
		d.inserts[name] = newBatchInserter(d.db.Collection(name))
	}
	return d, nil
}

// Close disconnects from the server.
func (d *DB) Close(ctx context.Context) error {
	for _, b := range d.inserts {
		b.close()
	}
	return d.client.Disconnect(ctx)
}

// Ping reports whether the server answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.client.Ping(ctx, readpref.Primary()); err != nil {
		return &whistle.Error{Code: whistle.EUNAVAILABLE, Message: "数据存储暂不可用，请稍后再试。", Err: err}
	}
	return nil
}

func (d *DB) ensureSchema(ctx context.Context) error {
	existing, err := d.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range existing {
		have[n] = true
	}
	for _, name := range collections {
		if have[name] {
			continue
		}
		err := d.db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.Name == "NamespaceExists") {
			return fmt.Errorf("create %s: %w", name, err)
		}
	}
	// Secondary indexes serve MongoDB; FerretDB accepts and maintains them but
	// does not read through them, which is why hot paths never need them.
	indexes := map[string][]mongo.IndexModel{
		colCases: {
			{Keys: bson.D{{Key: "lifecycle.department", Value: 1}, {Key: "lifecycle.state", Value: 1}}},
			{Keys: bson.D{{Key: "received_at", Value: 1}}},
		},
		colAudit: {{Keys: bson.D{{Key: "case_id", Value: 1}, {Key: "at", Value: 1}}}},
		colUsers: {{Keys: bson.D{{Key: "username", Value: 1}}, Options: options.Index().SetUnique(true)}},
	}
	for name, models := range indexes {
		// One index per command: FerretDB v1.24 panics (its issue #3858)
		// when a createIndexes request repeats two or more existing indexes,
		// which every restart on an existing store does.
		for _, m := range models {
			if _, err := d.db.Collection(name).Indexes().CreateOne(ctx, m); err != nil {
				return fmt.Errorf("indexes on %s: %w", name, err)
			}
		}
	}
	if d.cfg.EmbeddedSQLiteDir != "" {
		if err := embedded.IndexIDs(ctx, d.cfg.EmbeddedSQLiteDir, d.cfg.Database, collections); err != nil {
			return err
		}
	}
	return nil
}

// unavailable maps driver failures to the domain's "store unavailable" error;
// callers can tell a down server from a bug.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var we *whistle.Error
	if errors.As(err, &we) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, errStoreClosed) {
		return &whistle.Error{Code: whistle.EUNAVAILABLE, Message: "数据存储暂不可用，请稍后再试。", Err: err}
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, mongo.ErrClientDisconnected) {
		return &whistle.Error{Code: whistle.EUNAVAILABLE, Message: "数据存储暂不可用，请稍后再试。", Err: err}
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		return fmt.Errorf("store: %w", err)
	}
	return &whistle.Error{Code: whistle.EUNAVAILABLE, Message: "数据存储暂不可用，请稍后再试。", Err: err}
}

// stripedLock serialises read-modify-write of one document within a process.
type stripedLock struct{ mu []sync.Mutex }

func newStripedLock(n int) *stripedLock { return &stripedLock{mu: make([]sync.Mutex, n)} }

func (s *stripedLock) lock(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &s.mu[h.Sum32()%uint32(len(s.mu))]
	m.Lock()
	return m.Unlock
}

// DropDatabase removes the whole database (tests only clean up with it).
func (d *DB) DropDatabase(ctx context.Context) error { return d.db.Drop(ctx) }

// Ping connects to uri and pings it without preparing any collection (the
// container health check).
func Ping(ctx context.Context, uri string) error {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetServerSelectionTimeout(3*time.Second))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	return client.Ping(ctx, readpref.Primary())
}

// byID reads the document with the given _id — the one query FerretDB v1
// serves from an index — returning notFound when there is none.
func byID[T any](ctx context.Context, col *mongo.Collection, id any, notFound error) (*T, error) {
	var doc T
	err := col.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, notFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return &doc, nil
}
