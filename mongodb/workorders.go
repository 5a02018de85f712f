package mongodb

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"whistle"
)

// WorkOrder is the reservation of a 12345 work-order number: _id is the
// order number, so the first import of an order inserts it and every later
// or concurrent one hits the unique _id. The case id is chosen before the
// case is written, so a retry after a crash finds (or creates) exactly that
// case and never a second one.
type WorkOrder struct {
	OrderNo    string    `bson:"_id"`
	CaseID     string    `bson:"case_id"`
	Source     string    `bson:"source"`      // the API key name that pushed it
	ReservedAt time.Time `bson:"reserved_at"` // refreshed when a stale reservation is taken over
	Done       bool      `bson:"done"`        // the case is stored
}

var errWorkOrderNotFound = &whistle.Error{Code: whistle.ENOTFOUND, Message: "工单不存在。"}

// ReserveWorkOrder inserts w. If the order number is already reserved it
// returns the existing reservation and false; nothing is written then.
func (d *DB) ReserveWorkOrder(ctx context.Context, w WorkOrder) (*WorkOrder, bool, error) {
	if w.OrderNo == "" || w.CaseID == "" {
		return nil, false, errors.New("store: work order needs an order number and a case id")
	}
	w.ReservedAt = w.ReservedAt.UTC().Truncate(time.Millisecond)
	w.Done = false
	_, err := d.db.Collection(colWorkOrders).InsertOne(ctx, w)
	if mongo.IsDuplicateKeyError(err) {
		existing, err := d.WorkOrder(ctx, w.OrderNo)
		if whistle.ErrorCode(err) == whistle.ENOTFOUND {
			// Released between our insert and this read: let the caller retry.
			return nil, false, &whistle.Error{Code: whistle.ECONFLICT, Message: "该工单正在处理中，请稍后重试。"}
		}
		return existing, false, err
	}
	if err != nil {
		return nil, false, unavailable(err)
	}
	return &w, true, nil
}

// WorkOrder returns the reservation of an order number; ENOTFOUND if none.
func (d *DB) WorkOrder(ctx context.Context, orderNo string) (*WorkOrder, error) {
	return byID[WorkOrder](ctx, d.db.Collection(colWorkOrders), orderNo, errWorkOrderNotFound)
}

// CompleteWorkOrder records that the order's case is stored.
func (d *DB) CompleteWorkOrder(ctx context.Context, orderNo string) error {
	res, err := d.db.Collection(colWorkOrders).UpdateOne(ctx, bson.D{{Key: "_id", Value: orderNo}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "done", Value: true}}}})
	if err != nil {
		return unavailable(err)
	}
	if res.MatchedCount == 0 {
		return errWorkOrderNotFound
	}
	return nil
}

// TakeOverWorkOrder claims a reservation that is not done and still carries
// the reserved_at its caller saw, moving reserved_at to at. Of several
// callers that saw the same stale reservation exactly one gets true.
func (d *DB) TakeOverWorkOrder(ctx context.Context, orderNo string, seen, at time.Time) (bool, error) {
	seen = seen.UTC().Truncate(time.Millisecond)
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "reserved_at", Value: at.UTC().Truncate(time.Millisecond)}}}}
	return d.casWorkOrder(ctx, orderNo, func(w *WorkOrder) bool { return !w.Done && w.ReservedAt.Equal(seen) },
		bson.D{{Key: "done", Value: false}, {Key: "reserved_at", Value: seen}},
		func(col *mongo.Collection, filter bson.D) (int64, error) {
			res, err := col.UpdateOne(ctx, filter, set)
			if err != nil {
				return 0, err
			}
			return res.MatchedCount, nil
		})
}

// ReleaseWorkOrder removes a reservation whose case was never stored (the
// submission failed), so the platform's retry can start afresh. It removes
// nothing if the reservation is done or now names another case.
func (d *DB) ReleaseWorkOrder(ctx context.Context, orderNo, caseID string) error {
	_, err := d.casWorkOrder(ctx, orderNo, func(w *WorkOrder) bool { return !w.Done && w.CaseID == caseID },
		bson.D{{Key: "done", Value: false}, {Key: "case_id", Value: caseID}},
		func(col *mongo.Collection, filter bson.D) (int64, error) {
			res, err := col.DeleteOne(ctx, filter)
			if err != nil {
				return 0, err
			}
			return res.DeletedCount, nil
		})
	return err
}

// casWorkOrder applies write to the reservation only if it is in the state
// check accepts. On MongoDB the condition is part of the filter; on the
// single-process embedded store (where only an exact _id filter uses an
// index) it is checked under the process-local lock and the write filters
// on _id alone, as updateCase does for cases.
func (d *DB) casWorkOrder(ctx context.Context, orderNo string, check func(*WorkOrder) bool, condition bson.D,
	write func(col *mongo.Collection, filter bson.D) (int64, error)) (bool, error) {
	filter := bson.D{{Key: "_id", Value: orderNo}}
	if d.locks != nil {
		defer d.locks.lock("workorder\x00" + orderNo)()
		w, err := d.WorkOrder(ctx, orderNo)
		if whistle.ErrorCode(err) == whistle.ENOTFOUND {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !check(w) {
			return false, nil
		}
	} else {
		filter = append(filter, condition...)
	}
	n, err := write(d.db.Collection(colWorkOrders), filter)
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}
