package mongodb

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"whistle"
)

// APIKey is a machine credential (the 12345 platform's work-order push).
// Only a hash of the secret is stored; KeyID is the public prefix of the key
// that makes authentication one _id read.
type APIKey struct {
	KeyID     string
	Name      string
	Hash      []byte // SHA-256 of the full key
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Two kinds of document share the apikeys collection, both read by _id:
//
//	{_id: "key:<key id>", kind: "key", name, hash, created_at, revoked_at}
//	{_id: "name:<name>", kind: "name", key_id}   the one active key of a name
//
// The name document is inserted first, so its unique _id makes "one active
// key per name" hold under concurrent creates without a transaction.
type apiKeyDoc struct {
	ID        string     `bson:"_id"`
	Kind      string     `bson:"kind"`
	Name      string     `bson:"name"`
	Hash      []byte     `bson:"hash"`
	CreatedAt time.Time  `bson:"created_at"`
	RevokedAt *time.Time `bson:"revoked_at,omitempty"`
}

type apiKeyNameDoc struct {
	ID    string    `bson:"_id"`
	Kind  string    `bson:"kind"`
	KeyID string    `bson:"key_id"`
	At    time.Time `bson:"at"`
}

const (
	apiKeyKind     = "key"
	apiKeyNameKind = "name"
)

func apiKeyDocID(keyID string) string { return "key:" + keyID }
func apiKeyNameID(name string) string { return "name:" + name }

var errAPIKeyNotFound = &whistle.Error{Code: whistle.ENOTFOUND, Message: "API 密钥不存在或已吊销。"}

// CreateAPIKey stores a new key. ECONFLICT if the name already has an active
// key (revoke it first).
func (d *DB) CreateAPIKey(ctx context.Context, k APIKey) error {
	if k.KeyID == "" || k.Name == "" || len(k.Hash) == 0 {
		return errors.New("store: API key needs an id, a name and a hash")
	}
	col := d.db.Collection(colAPIKeys)
	nameDoc := apiKeyNameDoc{ID: apiKeyNameID(k.Name), Kind: apiKeyNameKind, KeyID: k.KeyID, At: d.now().UTC()}
	_, err := col.InsertOne(ctx, nameDoc)
	if mongo.IsDuplicateKeyError(err) {
		err = d.replaceDanglingName(ctx, nameDoc)
	}
	if err != nil {
		return err
	}
	doc := apiKeyDoc{ID: apiKeyDocID(k.KeyID), Kind: apiKeyKind, Name: k.Name, Hash: k.Hash, CreatedAt: k.CreatedAt.UTC()}
	if _, err := col.InsertOne(ctx, doc); err != nil {
		// Best effort; a leftover is cleared by a create after danglingAfter.
		col.DeleteOne(ctx, bson.D{{Key: "_id", Value: nameDoc.ID}, {Key: "key_id", Value: k.KeyID}})
		return unavailable(err)
	}
	return nil
}

// danglingAfter is how old a name document without its key document must be
// before a create may take the name over: younger ones belong to a create
// still in flight, older ones to a create that crashed between its inserts.
const danglingAfter = time.Minute

var errAPIKeyNameTaken = &whistle.Error{Code: whistle.ECONFLICT, Field: "name", Message: "该名称已有有效的 API 密钥，请先吊销。"}

// replaceDanglingName takes over a name whose document has pointed at no key
// for longer than danglingAfter; otherwise the name is taken.
func (d *DB) replaceDanglingName(ctx context.Context, nameDoc apiKeyNameDoc) error {
	col := d.db.Collection(colAPIKeys)
	var cur apiKeyNameDoc
	err := col.FindOne(ctx, bson.D{{Key: "_id", Value: nameDoc.ID}}).Decode(&cur)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return errAPIKeyNameTaken // revoked meanwhile; the caller may simply retry
	}
	if err != nil {
		return unavailable(err)
	}
	if nameDoc.At.Sub(cur.At) < danglingAfter {
		return errAPIKeyNameTaken
	}
	if _, err := d.APIKey(ctx, cur.KeyID); whistle.ErrorCode(err) != whistle.ENOTFOUND {
		if err != nil {
			return err
		}
		return errAPIKeyNameTaken
	}
	// Delete exactly the stale document (the filter names its key id), so
	// of two creates taking over at once only one insert can succeed.
	if _, err := col.DeleteOne(ctx, bson.D{{Key: "_id", Value: nameDoc.ID}, {Key: "key_id", Value: cur.KeyID}}); err != nil {
		return unavailable(err)
	}
	_, err = col.InsertOne(ctx, nameDoc)
	if mongo.IsDuplicateKeyError(err) {
		return errAPIKeyNameTaken
	}
	return unavailable(err)
}

// activeKeyOf returns the id of a name's active key; ENOTFOUND if none.
func (d *DB) activeKeyOf(ctx context.Context, name string) (string, error) {
	var n apiKeyNameDoc
	err := d.db.Collection(colAPIKeys).FindOne(ctx, bson.D{{Key: "_id", Value: apiKeyNameID(name)}}).Decode(&n)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", errAPIKeyNotFound
	}
	if err != nil {
		return "", unavailable(err)
	}
	return n.KeyID, nil
}

// APIKey returns the key with the given id, revoked or not; ENOTFOUND if none.
func (d *DB) APIKey(ctx context.Context, keyID string) (*APIKey, error) {
	var doc apiKeyDoc
	err := d.db.Collection(colAPIKeys).FindOne(ctx, bson.D{{Key: "_id", Value: apiKeyDocID(keyID)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errAPIKeyNotFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	k := doc.key()
	return &k, nil
}

func (doc apiKeyDoc) key() APIKey {
	return APIKey{KeyID: doc.ID[len("key:"):], Name: doc.Name, Hash: doc.Hash, CreatedAt: doc.CreatedAt, RevokedAt: doc.RevokedAt}
}

// RevokeAPIKey revokes the active key of a name. The key document stays
// (revoked) for the record; the name becomes free for a new key.
// ENOTFOUND if the name has no active key.
func (d *DB) RevokeAPIKey(ctx context.Context, name string, at time.Time) error {
	keyID, err := d.activeKeyOf(ctx, name)
	if err != nil {
		return err
	}
	col := d.db.Collection(colAPIKeys)
	res, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: apiKeyDocID(keyID)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: at.UTC()}}}})
	if err != nil {
		return unavailable(err)
	}
	if res.MatchedCount == 0 {
		return errAPIKeyNotFound // a create still in flight, or one that crashed: no key to revoke
	}
	_, err = col.DeleteOne(ctx, bson.D{{Key: "_id", Value: apiKeyNameID(name)}})
	return unavailable(err)
}

// APIKeys lists every key, revoked ones included, oldest first. It scans the
// (small) collection; it serves the operator's command line.
func (d *DB) APIKeys(ctx context.Context) ([]APIKey, error) {
	cur, err := d.db.Collection(colAPIKeys).Find(ctx, bson.D{{Key: "kind", Value: apiKeyKind}})
	if err != nil {
		return nil, unavailable(err)
	}
	var docs []apiKeyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, unavailable(err)
	}
	out := make([]APIKey, len(docs))
	for i, doc := range docs {
		out[i] = doc.key()
	}
	slices.SortFunc(out, func(a, b APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.KeyID, b.KeyID)
	})
	return out, nil
}
