package mongodb

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"whistle"
)

// Session is a staff login as stored. ID is a hash of the session id in the
// cookie (package admin computes it), never the id itself, so a database
// reader cannot take over a session. Nothing secret is stored here: the
// member's unlocked key lives only in the memory of the serving process.
type Session struct {
	ID        string    `bson:"_id"`
	Username  string    `bson:"username"`
	CreatedAt time.Time `bson:"created_at"`
	LastSeen  time.Time `bson:"last_seen"`
}

var errSessionNotFound = &whistle.Error{Code: whistle.ENOTFOUND, Message: "会话不存在或已过期。"}

// CreateSession stores a new session.
func (d *DB) CreateSession(ctx context.Context, s *Session) error {
	if s.ID == "" || s.Username == "" {
		return errors.New("store: session needs an id hash and a username")
	}
	_, err := d.db.Collection(colSessions).InsertOne(ctx, s)
	return unavailable(err)
}

// Session returns the session with the given id hash; ENOTFOUND if none.
func (d *DB) Session(ctx context.Context, idHash string) (*Session, error) {
	return byID[Session](ctx, d.db.Collection(colSessions), idHash, errSessionNotFound)
}

// TouchSession records activity on a session (for the idle timeout).
func (d *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := d.db.Collection(colSessions).UpdateOne(ctx, bson.D{{Key: "_id", Value: idHash}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "last_seen", Value: at.UTC()}}}})
	return unavailable(err)
}

// DeleteSession ends one session; deleting an unknown session is not an error.
func (d *DB) DeleteSession(ctx context.Context, idHash string) error {
	_, err := d.db.Collection(colSessions).DeleteOne(ctx, bson.D{{Key: "_id", Value: idHash}})
	return unavailable(err)
}

// DeleteUserSessions ends every session of a member. It filters on a
// non-_id field, which FerretDB serves with a scan of the (small) sessions
// collection; it runs when a member is disabled, never per request.
func (d *DB) DeleteUserSessions(ctx context.Context, username string) error {
	_, err := d.db.Collection(colSessions).DeleteMany(ctx, bson.D{{Key: "username", Value: username}})
	return unavailable(err)
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or
// created before createdBefore, and returns how many it removed. Expired
// sessions are already refused when presented; this only keeps the
// collection small. It scans, so call it periodically, not per request.
func (d *DB) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	res, err := d.db.Collection(colSessions).DeleteMany(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "last_seen", Value: bson.D{{Key: "$lt", Value: idleBefore.UTC()}}}},
		bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: createdBefore.UTC()}}}},
	}}})
	if err != nil {
		return 0, unavailable(err)
	}
	return res.DeletedCount, nil
}
