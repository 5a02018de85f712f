package mongodb

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle"
)

// InsertCases writes cases directly (InsertMany), without list documents or
// receipts: tests and benchmarks seed large stores with it, then call
// RebuildLists.
func (d *DB) InsertCases(ctx context.Context, cases []*whistle.Case) error {
	docs := make([]any, len(cases))
	for i, c := range cases {
		docs[i] = c
	}
	_, err := d.db.Collection(colCases).InsertMany(ctx, docs)
	return err
}

// DeleteBucketEntry removes one queue entry behind the store's back, as a
// crash between writes could.
func (d *DB) DeleteQueueEntry(ctx context.Context, c *whistle.Case) error {
	for ref := range caseBuckets(c) {
		if err := d.bucketDelete(ctx, ref); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceCaseOnly writes a case without touching its list documents, as a
// crash between the case write and the list writes would leave it.
func (d *DB) ReplaceCaseOnly(ctx context.Context, c *whistle.Case) error {
	_, err := d.db.Collection(colCases).ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, c)
	return err
}

// NaiveQueue runs the filtered, sorted, limited Find a queue page would be
// without bucket lists (the benchmark's comparison).
func (d *DB) NaiveQueue(ctx context.Context, filter bson.D) error {
	cur, err := d.db.Collection(colCases).Find(ctx, filter,
		options.Find().SetSort(bson.D{{Key: "clocks.due", Value: 1}}).SetLimit(50))
	if err != nil {
		return err
	}
	var out []whistle.Case
	return cur.All(ctx, &out)
}
