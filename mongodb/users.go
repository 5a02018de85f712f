package mongodb

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"whistle"
)

// User is a staff member as stored. The username is the _id, so a login is
// one exact _id read; it is repeated in "username" because the users
// collection carries a unique index on that field (db.go), which MongoDB
// would otherwise fill with nulls.
//
// StaffKey is crypto.StaffKey in its MarshalBinary form: the member's public
// key and the private half sealed under their password with Argon2id. It is
// also the password verifier — there is no separate password hash (see
// package admin).
type User struct {
	ID         string       `bson:"_id"`
	Username   string       `bson:"username"`
	Role       whistle.Role `bson:"role"`
	Department string       `bson:"department,omitempty"`
	City       string       `bson:"city,omitempty"`
	County     string       `bson:"county,omitempty"`
	StaffKey   []byte       `bson:"staff_key"`
	Disabled   bool         `bson:"disabled"`
	CreatedAt  time.Time    `bson:"created_at"`
	DisabledAt *time.Time   `bson:"disabled_at,omitempty"`
}

var errUserNotFound = &whistle.Error{Code: whistle.ENOTFOUND, Message: "用户不存在。"}

// CreateUser stores a new staff member. A taken username is ECONFLICT.
func (d *DB) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" || u.ID != u.Username || len(u.StaffKey) == 0 {
		return errors.New("store: user needs matching _id and username and a staff key")
	}
	_, err := d.db.Collection(colUsers).InsertOne(ctx, u)
	if mongo.IsDuplicateKeyError(err) {
		return &whistle.Error{Code: whistle.ECONFLICT, Field: "username", Message: "用户名已被使用。"}
	}
	return unavailable(err)
}

// User returns the staff member with the given username; ENOTFOUND if none.
func (d *DB) User(ctx context.Context, username string) (*User, error) {
	return byID[User](ctx, d.db.Collection(colUsers), username, errUserNotFound)
}

// DisableUser marks a member disabled and ends all their sessions. Disabling
// is idempotent; the first disable time is kept. The member's record and key
// stay, so what they did remains attributable.
func (d *DB) DisableUser(ctx context.Context, username string, at time.Time) error {
	res, err := d.db.Collection(colUsers).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: username}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "disabled", Value: true}}}})
	if err != nil {
		return unavailable(err)
	}
	if res.MatchedCount == 0 {
		return errUserNotFound
	}
	// A second write keeps the first disable time without a conditional
	// filter (which FerretDB would serve with a scan).
	u, err := d.User(ctx, username)
	if err != nil {
		return err
	}
	if u.DisabledAt == nil {
		if _, err := d.db.Collection(colUsers).UpdateOne(ctx, bson.D{{Key: "_id", Value: username}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "disabled_at", Value: at.UTC()}}}}); err != nil {
			return unavailable(err)
		}
	}
	return d.DeleteUserSessions(ctx, username)
}
