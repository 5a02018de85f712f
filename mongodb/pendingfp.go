package mongodb

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// A report's fingerprint can only be computed while the report is readable,
// which ends with its routing write; linking it into the duplicate bands
// (LinkFingerprint, a write per band) comes later, in its own task. In
// between it waits here, one document per case:
//
//	{_id: "<case id>", fp: <opaque fingerprint>, bands: [<token>, …], at}
//
// written before the routing write and deleted once linked, so the store —
// not the task queue — holds every fingerprint still to link, and the sweep
// re-creates a lost task from it. Like the pending markers, the collection
// only ever holds work not yet done, so reading it whole stays cheap.

// PendingFingerprint is a case's blinded fingerprint waiting to be linked:
// FP and Bands as LinkFingerprint takes them, At when it was stored.
type PendingFingerprint struct {
	CaseID string    `bson:"_id"`
	FP     []byte    `bson:"fp"`
	Bands  [][]byte  `bson:"bands"`
	At     time.Time `bson:"at"`
}

// PutPendingFingerprint stores (or replaces) a case's fingerprint to link.
func (d *DB) PutPendingFingerprint(ctx context.Context, p PendingFingerprint) error {
	p.At = p.At.UTC()
	_, err := d.db.Collection(colPendingFP).ReplaceOne(ctx, bson.D{{Key: "_id", Value: p.CaseID}}, p,
		options.Replace().SetUpsert(true))
	return unavailable(err)
}

// PendingFingerprint returns the fingerprint a case still has to link, or
// nil if none (linked already, or never computed).
func (d *DB) PendingFingerprint(ctx context.Context, caseID string) (*PendingFingerprint, error) {
	var p PendingFingerprint
	err := d.db.Collection(colPendingFP).FindOne(ctx, bson.D{{Key: "_id", Value: caseID}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return &p, nil
}

// PendingFingerprints lists the fingerprints waiting to be linked, oldest
// first, with CaseID and At only: the sweep needs no more.
func (d *DB) PendingFingerprints(ctx context.Context, limit int) ([]PendingFingerprint, error) {
	cur, err := d.db.Collection(colPendingFP).Find(ctx, bson.D{}, options.Find().
		SetProjection(bson.D{{Key: "at", Value: 1}}).SetSort(bson.D{{Key: "at", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, unavailable(err)
	}
	var out []PendingFingerprint
	if err := cur.All(ctx, &out); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// ClearPendingFingerprint removes a case's pending fingerprint: linked, or
// shredded by retention. A missing document is not an error.
func (d *DB) ClearPendingFingerprint(ctx context.Context, caseID string) error {
	_, err := d.db.Collection(colPendingFP).DeleteOne(ctx, bson.D{{Key: "_id", Value: caseID}})
	return unavailable(err)
}
