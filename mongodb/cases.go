package mongodb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle"
)

var errNotFound = &whistle.Error{Code: whistle.ENOTFOUND, Message: "未找到该举报。"}

// CreateCase stores a new case and the receipt lookup that leads to it. Only
// when it returns nil may the receipt be shown: everything needed to route and
// to follow up is durable by then.
//
// Order matters because there are no transactions: the pending marker goes
// first (so a case can never exist unseen by the reconcile sweep), then the
// receipt lookup, then the case. A crash part-way leaves only a marker or a
// lookup that points at nothing; both are harmless and swept away.
func (d *DB) CreateCase(ctx context.Context, c *whistle.Case, receiptToken []byte) error {
	if c.ID == "" || len(receiptToken) == 0 {
		return errors.New("store: case id and receipt token are required")
	}
	c.Version = 1
	if err := d.inserts[colPending].insert(ctx, pendingDoc{ID: c.ID, At: c.ReceivedAt, Urgent: c.Urgent}); err != nil {
		return unavailable(err)
	}
	if err := d.inserts[colReceipts].insert(ctx, bson.D{
		{Key: "_id", Value: hex.EncodeToString(receiptToken)}, {Key: "case_id", Value: c.ID},
	}); err != nil {
		return unavailable(err)
	}
	if err := d.inserts[colCases].insert(ctx, c); err != nil {
		return unavailable(err)
	}
	return nil
}

// Case returns the case with the given id.
func (d *DB) Case(ctx context.Context, id string) (*whistle.Case, error) {
	return byID[whistle.Case](ctx, d.db.Collection(colCases), id, errNotFound)
}

// CaseByReceipt returns the case a receipt lookup token leads to. A token
// that leads nowhere is ENOTFOUND, the same as an unknown one.
func (d *DB) CaseByReceipt(ctx context.Context, receiptToken []byte) (*whistle.Case, error) {
	r, err := byID[struct {
		CaseID string `bson:"case_id"`
	}](ctx, d.db.Collection(colReceipts), hex.EncodeToString(receiptToken), errNotFound)
	if err != nil {
		return nil, err
	}
	return d.Case(ctx, r.CaseID)
}

// maxUpdateAttempts bounds optimistic retries; contention on one case is
// rare (a handler and a worker at once), so a few attempts always suffice.
const maxUpdateAttempts = 8

// UpdateCase applies fn to the current version of the case and writes the
// result if nobody else wrote in between, retrying on conflict. fn must be
// free of side effects other than on the case: it may run more than once.
// If fn returns an error nothing is written and the error is returned as is.
// Derived list documents (department queues, clocks) follow the case.
func (d *DB) UpdateCase(ctx context.Context, id string, fn func(*whistle.Case) error) (*whistle.Case, error) {
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		c, ok, err := d.tryUpdate(ctx, id, fn)
		if err != nil {
			return nil, err
		}
		if ok {
			return c, nil
		}
	}
	return nil, &whistle.Error{Code: whistle.ECONFLICT, Message: "该案件正被他人修改，请刷新后重试。"}
}

func (d *DB) tryUpdate(ctx context.Context, id string, fn func(*whistle.Case) error) (*whistle.Case, bool, error) {
	if d.locks != nil {
		// Single process (embedded default): a {_id, version} filter would
		// scan the whole collection on FerretDB, so the version check happens
		// under a process-local lock and the write filters on _id alone.
		defer d.locks.lock(id)()
	}
	raw, err := d.db.Collection(colCases).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, errNotFound
	}
	if err != nil {
		return nil, false, unavailable(err)
	}
	// Two decodes give fn a deep copy to change while before stays as stored.
	var before, c whistle.Case
	if err := errors.Join(bson.Unmarshal(raw, &before), bson.Unmarshal(raw, &c)); err != nil {
		return nil, false, fmt.Errorf("decode case %s: %w", id, err)
	}
	if err := fn(&c); err != nil {
		return nil, false, err
	}
	c.ID = id
	c.Version = before.Version + 1

	if err := d.syncBuckets(ctx, &before, &c, true); err != nil {
		return nil, false, err
	}
	filter := bson.D{{Key: "_id", Value: id}}
	if d.locks == nil {
		filter = append(filter, bson.E{Key: "version", Value: before.Version})
	}
	res, err := d.db.Collection(colCases).ReplaceOne(ctx, filter, &c)
	if err != nil {
		return nil, false, unavailable(err)
	}
	if res.MatchedCount == 0 {
		return nil, false, nil // lost the race (or the case was deleted): re-read
	}
	if err := d.syncBuckets(ctx, &before, &c, false); err != nil {
		return nil, false, err
	}
	return &c, true, nil
}

// pendingDoc marks a case that is stored but not yet routed.
type pendingDoc struct {
	ID     string    `bson:"_id"`
	At     time.Time `bson:"at"`
	Urgent bool      `bson:"urgent"`
}

// Pending is a case waiting for triage.
type Pending struct {
	CaseID string
	At     time.Time
	Urgent bool
}

// PendingCases lists the cases stored but not yet routed, oldest first. The
// collection only ever holds unrouted cases, so reading it whole stays cheap.
func (d *DB) PendingCases(ctx context.Context, limit int) ([]Pending, error) {
	cur, err := d.db.Collection(colPending).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, unavailable(err)
	}
	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, unavailable(err)
	}
	out := make([]Pending, len(docs))
	for i, p := range docs {
		out[i] = Pending{CaseID: p.ID, At: p.At, Urgent: p.Urgent}
	}
	return out, nil
}

// ClearPending removes the pending marker of a routed (or vanished) case.
func (d *DB) ClearPending(ctx context.Context, caseID string) error {
	_, err := d.db.Collection(colPending).DeleteOne(ctx, bson.D{{Key: "_id", Value: caseID}})
	return unavailable(err)
}

// CountCases returns the number of stored cases (estimated on MongoDB).
func (d *DB) CountCases(ctx context.Context) (int64, error) {
	n, err := d.db.Collection(colCases).EstimatedDocumentCount(ctx)
	return n, unavailable(err)
}

// EachCase calls fn for every case, in no particular order. It is the one
// full scan, used by Reconcile at start and by retention; never on a request.
func (d *DB) EachCase(ctx context.Context, fn func(*whistle.Case) error) error {
	cur, err := d.db.Collection(colCases).Find(ctx, bson.D{})
	if err != nil {
		return unavailable(err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var c whistle.Case
		if err := cur.Decode(&c); err != nil {
			return fmt.Errorf("decode case: %w", err)
		}
		if err := fn(&c); err != nil {
			return err
		}
	}
	return unavailable(cur.Err())
}
