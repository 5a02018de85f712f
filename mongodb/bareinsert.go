package mongodb

import (
	"context"

	"whistle"
)

// InsertCaseDocument writes the case document alone — one InsertOne, no
// pending marker, no receipt lookup, no lists. It is not a way to file a
// case (use CreateCase); it is the floor that load benchmarks measure a
// full submission against, on the same store in the same run.
func (d *DB) InsertCaseDocument(ctx context.Context, c *whistle.Case) error {
	_, err := d.db.Collection(colCases).InsertOne(ctx, c)
	return unavailable(err)
}
