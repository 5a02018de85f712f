package mongodb

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"whistle"
)

// GroupKey is the key pair of a recipient group — a department of the
// registry, or the 安委办 coordination office of a jurisdiction — as stored:
// the public half in clear (report data keys are sealed to it) and the
// private half only sealed to the custodian key (escrow). Members receive
// their own sealed copy of the private half through the staff console.
//
// One document per group in the departments collection, read by _id:
//
//	{_id: "<kind>|<name>", kind, name, version, holder, public, escrow, escrow_holder, created_at}
type GroupKey struct {
	Kind    string `bson:"kind"` // "department", "coordination" or "finance"
	Name    string `bson:"name"` // department heading name, or jurisdiction
	Version uint32 `bson:"version"`
	// Holder is the crypto holder name the group's copies of a report key
	// are stored under (crypto.HolderDepartment / HolderCoordination).
	Holder string `bson:"holder"`
	Public []byte `bson:"public"`
	// Escrow is the private key sealed to the custodian (crypto.SealKeyPair),
	// EscrowHolder the custodian holder name (crypto.HolderCustodian(v)).
	Escrow       []byte    `bson:"escrow"`
	EscrowHolder string    `bson:"escrow_holder"`
	CreatedAt    time.Time `bson:"created_at"`
}

type groupKeyDoc struct {
	ID       string `bson:"_id"`
	GroupKey `bson:",inline"`
}

func groupKeyID(kind, name string) string { return kind + "|" + name }

var errGroupKeyNotFound = &whistle.Error{Code: whistle.ENOTFOUND, Message: "该部门或安委办尚未生成密钥。"}

// CreateGroupKey stores k unless the group already has a key, and returns
// the group's key either way: concurrent provisioners (several workers
// starting at once) all end up with the one that was stored first.
func (d *DB) CreateGroupKey(ctx context.Context, k GroupKey) (*GroupKey, error) {
	if k.Kind == "" || k.Name == "" || k.Holder == "" || len(k.Public) != 32 || len(k.Escrow) == 0 {
		return nil, errors.New("store: a group key needs a kind, a name, a holder, a 32-byte public key and an escrow copy")
	}
	k.CreatedAt = k.CreatedAt.UTC()
	_, err := d.db.Collection(colDepts).InsertOne(ctx, groupKeyDoc{ID: groupKeyID(k.Kind, k.Name), GroupKey: k})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return nil, unavailable(err)
	}
	return d.GroupKey(ctx, k.Kind, k.Name)
}

// GroupKey returns the key of one group; ENOTFOUND if it has none yet.
func (d *DB) GroupKey(ctx context.Context, kind, name string) (*GroupKey, error) {
	var doc groupKeyDoc
	err := d.db.Collection(colDepts).FindOne(ctx, bson.D{{Key: "_id", Value: groupKeyID(kind, name)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errGroupKeyNotFound
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return &doc.GroupKey, nil
}

// GroupKeys lists every group key (a few dozen documents: one per
// department and jurisdiction), for the staff console and key audits.
func (d *DB) GroupKeys(ctx context.Context) ([]GroupKey, error) {
	cur, err := d.db.Collection(colDepts).Find(ctx, bson.D{})
	if err != nil {
		return nil, unavailable(err)
	}
	var docs []groupKeyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, unavailable(err)
	}
	out := make([]GroupKey, 0, len(docs))
	for _, doc := range docs {
		if doc.Holder != "" {
			out = append(out, doc.GroupKey)
		}
	}
	return out, nil
}
