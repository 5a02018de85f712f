package mongodb

import (
	"context"
	"time"
)

// LeaveDanglingAPIKeyName stores what a create that crashed between its two
// inserts leaves behind: a name document whose key document never came.
func (d *DB) LeaveDanglingAPIKeyName(ctx context.Context, name, keyID string, at time.Time) error {
	_, err := d.db.Collection(colAPIKeys).InsertOne(ctx, apiKeyNameDoc{ID: apiKeyNameID(name), Kind: apiKeyNameKind, KeyID: keyID, At: at.UTC()})
	return unavailable(err)
}
