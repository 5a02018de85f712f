package mongodb

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle"
)

// AuditEntry records who did what to which case, and when: every staff read
// of decrypted content, every login, every key or user change. It never
// holds content — not a quote, not a file name, not a phone number.
type AuditEntry struct {
	ID     string       `bson:"_id"`
	At     time.Time    `bson:"at"`
	Actor  string       `bson:"actor"` // username, API key name, or "cli" for the operator's command line
	Role   whistle.Role `bson:"role"`
	Action string       `bson:"action"`            // stable code, e.g. "login", "hotline_submit"
	CaseID string       `bson:"case_id,omitempty"` // "" when the action concerns no case
	// Subject names the account or key acted on by a non-case action
	// ("user:alice", "apikey:12345平台").
	Subject string `bson:"subject,omitempty"`
}

// Audit appends one entry to the audit trail. The store offers no way to
// change or delete an entry: the trail is append-only by construction. The
// entry's id is assigned here; At must be set by the caller (its clock).
func (d *DB) Audit(ctx context.Context, e AuditEntry) error {
	if strings.TrimSpace(e.Actor) == "" || e.Role == "" || e.Action == "" || e.At.IsZero() {
		return errors.New("store: audit entry needs actor, role, action and time")
	}
	e.ID = whistle.NewID()
	e.At = e.At.UTC()
	_, err := d.db.Collection(colAudit).InsertOne(ctx, e)
	return unavailable(err)
}

// AuditTrail returns a case's audit entries, oldest first. It filters on
// case_id (an index on MongoDB, a scan on FerretDB): it serves the auditor's
// view, not a hot path.
func (d *DB) AuditTrail(ctx context.Context, caseID string) ([]AuditEntry, error) {
	return d.auditFind(ctx, bson.D{{Key: "case_id", Value: caseID}})
}

// AuditByActor returns an actor's audit entries, oldest first (a scan on
// FerretDB; for auditors only).
func (d *DB) AuditByActor(ctx context.Context, actor string) ([]AuditEntry, error) {
	return d.auditFind(ctx, bson.D{{Key: "actor", Value: actor}})
}

func (d *DB) auditFind(ctx context.Context, filter bson.D) ([]AuditEntry, error) {
	cur, err := d.db.Collection(colAudit).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, unavailable(err)
	}
	var out []AuditEntry
	if err := cur.All(ctx, &out); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}
