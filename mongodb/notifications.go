package mongodb

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle"
)

// colNotifications holds staff notification settings, delivery records and
// the day lists of pending and failed deliveries, all read by _id:
//
//	{_id: "settings|<target>", email: […], webhooks: […], updated_at, updated_by}
//	{_id: "delivery|<id>", event, case_id, target, channel, dest, subject, text, status, attempts, last_error, …}
//	{_id: "pending|<yyyy-mm-dd>", ids: {"<delivery id>": <created>}}   deliveries not yet settled, by creation day
//	{_id: "failed|<yyyy-mm-dd>", ids: {"<delivery id>": <failed at>}}  deliveries given up, by failure day
//
// Delivery records are the notifications' outbox: one is written before its
// task is enqueued, so a task lost with Redis is found again by the sweep.
const colNotifications = "notifications"

// NotifySettings are where one recipient group (a sla.Target key such as
// "department:自治区应急管理厅") is told that a case needs it.
type NotifySettings struct {
	Target    string    `bson:"-"`
	Email     []string  `bson:"email,omitempty"`
	Webhooks  []Webhook `bson:"webhooks,omitempty"`
	UpdatedAt time.Time `bson:"updated_at"`
	UpdatedBy string    `bson:"updated_by,omitempty"`
}

// Webhook is a chat-robot (DingTalk, WeCom) or generic JSON endpoint.
type Webhook struct {
	URL    string `bson:"url"`
	Format string `bson:"format"`           // "dingtalk", "wecom" or "json"
	Secret string `bson:"secret,omitempty"` // DingTalk signing secret, if the robot requires one
}

type settingsDoc struct {
	ID             string `bson:"_id"`
	NotifySettings `bson:",inline"`
}

var errNoSettings = &whistle.Error{Code: whistle.ENOTFOUND, Message: "尚未配置通知方式。"}

// SetNotifySettings stores (replaces) a group's notification settings. The
// caller validates them (workers.CheckNotifySettings).
func (d *DB) SetNotifySettings(ctx context.Context, s NotifySettings) error {
	if s.Target == "" {
		return errors.New("store: notification settings need a target")
	}
	s.UpdatedAt = s.UpdatedAt.UTC()
	_, err := d.db.Collection(colNotifications).ReplaceOne(ctx, bson.D{{Key: "_id", Value: "settings|" + s.Target}},
		settingsDoc{ID: "settings|" + s.Target, NotifySettings: s}, options.Replace().SetUpsert(true))
	return unavailable(err)
}

// NotifySettingsOf returns a group's settings; ENOTFOUND if it has none.
func (d *DB) NotifySettingsOf(ctx context.Context, target string) (*NotifySettings, error) {
	var doc settingsDoc
	err := d.db.Collection(colNotifications).FindOne(ctx, bson.D{{Key: "_id", Value: "settings|" + target}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errNoSettings
	}
	if err != nil {
		return nil, unavailable(err)
	}
	doc.NotifySettings.Target = target
	return &doc.NotifySettings, nil
}

// Delivery statuses.
const (
	DeliveryPending = "pending" // not yet sent; a task holds it (or the sweep will enqueue one)
	DeliverySent    = "sent"
	DeliveryFailed  = "failed" // every attempt failed, or there was nowhere to send it
)

// Delivery is one notification to one destination.
type Delivery struct {
	ID        string    `bson:"-"`
	Event     string    `bson:"event"` // what happened, e.g. "routed:<case>" or "overdue:<case>:sign_for:<due>:1"
	CaseID    string    `bson:"case_id,omitempty"`
	Target    string    `bson:"target"`
	Channel   string    `bson:"channel"` // "email", "webhook", or "" when the target had no destination
	Dest      string    `bson:"dest,omitempty"`
	Format    string    `bson:"format,omitempty"` // webhook format
	Secret    string    `bson:"secret,omitempty"` // webhook signing secret, copied from the settings
	Subject   string    `bson:"subject"`
	Text      string    `bson:"text"`
	Status    string    `bson:"status"`
	Attempts  int       `bson:"attempts"`
	LastError string    `bson:"last_error,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
}

type deliveryDoc struct {
	ID       string `bson:"_id"`
	Delivery `bson:",inline"`
}

type idListDoc struct {
	IDs map[string]time.Time `bson:"ids"`
}

var errNoDelivery = &whistle.Error{Code: whistle.ENOTFOUND, Message: "通知记录不存在。"}

// CreateDelivery stores a delivery record unless one with the same id
// exists, and reports whether it was new. A pending record is listed under
// its creation day first, so the sweep can always find it.
func (d *DB) CreateDelivery(ctx context.Context, dl Delivery) (bool, error) {
	if err := checkMember(dl.ID); err != nil {
		return false, err
	}
	dl.CreatedAt, dl.UpdatedAt = dl.CreatedAt.UTC(), dl.CreatedAt.UTC()
	col := d.db.Collection(colNotifications)
	if dl.Status == DeliveryPending {
		if err := d.listPut(ctx, "pending|"+dayPart(dl.CreatedAt), dl.ID, dl.CreatedAt); err != nil {
			return false, err
		}
	}
	_, err := col.InsertOne(ctx, deliveryDoc{ID: "delivery|" + dl.ID, Delivery: dl})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, unavailable(err)
	}
	if dl.Status == DeliveryFailed {
		return true, d.listPut(ctx, "failed|"+dayPart(dl.CreatedAt), dl.ID, dl.CreatedAt)
	}
	return true, nil
}

// DeliveryByID returns one delivery record.
func (d *DB) DeliveryByID(ctx context.Context, id string) (*Delivery, error) {
	var doc deliveryDoc
	err := d.db.Collection(colNotifications).FindOne(ctx, bson.D{{Key: "_id", Value: "delivery|" + id}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errNoDelivery
	}
	if err != nil {
		return nil, unavailable(err)
	}
	doc.Delivery.ID = id
	return &doc.Delivery, nil
}

// SettleDelivery records the outcome of one attempt: sent (errText empty),
// failed for good (final), or still pending with the error kept for view.
// A settled delivery leaves the pending list; a failed one joins the failed
// list of the day.
func (d *DB) SettleDelivery(ctx context.Context, id string, errText string, final bool, at time.Time) error {
	dl, err := d.DeliveryByID(ctx, id)
	if err != nil {
		return err
	}
	status := DeliveryPending
	switch {
	case errText == "":
		status = DeliverySent
	case final:
		status = DeliveryFailed
	}
	set := bson.D{{Key: "status", Value: status}, {Key: "updated_at", Value: at.UTC()}}
	if errText != "" {
		set = append(set, bson.E{Key: "last_error", Value: errText})
	}
	if status == DeliveryFailed {
		if err := d.listPut(ctx, "failed|"+dayPart(at), id, at); err != nil {
			return err
		}
	}
	if _, err := d.db.Collection(colNotifications).UpdateOne(ctx, bson.D{{Key: "_id", Value: "delivery|" + id}},
		bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}}}); err != nil {
		return unavailable(err)
	}
	if status != DeliveryPending {
		return d.listDelete(ctx, "pending|"+dayPart(dl.CreatedAt), id)
	}
	return nil
}

// PendingDeliveries lists the ids of deliveries created in the given number
// of days up to now that are not settled yet (oldest day first).
func (d *DB) PendingDeliveries(ctx context.Context, now time.Time, days int) ([]string, error) {
	return d.listDays(ctx, "pending|", now, days)
}

// FailedDeliveries returns the deliveries given up in the given number of
// days up to now, newest first: what the staff console shows as failures.
func (d *DB) FailedDeliveries(ctx context.Context, now time.Time, days int) ([]Delivery, error) {
	ids, err := d.listDays(ctx, "failed|", now, days)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(ids))
	for _, id := range slices.Backward(ids) {
		dl, err := d.DeliveryByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *dl)
	}
	return out, nil
}

func (d *DB) listDays(ctx context.Context, prefix string, now time.Time, days int) ([]string, error) {
	var out []string
	for i := days - 1; i >= 0; i-- {
		var doc idListDoc
		err := d.db.Collection(colNotifications).FindOne(ctx,
			bson.D{{Key: "_id", Value: prefix + dayPart(now.AddDate(0, 0, -i))}}).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return nil, unavailable(err)
		}
		ids := make([]string, 0, len(doc.IDs))
		for id := range doc.IDs {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b string) int {
			if c := doc.IDs[a].Compare(doc.IDs[b]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		out = append(out, ids...)
	}
	return out, nil
}

// listPut and listDelete change one entry of a list document under its
// list lock (see listLocks: a settled delivery came back as pending without).
func (d *DB) listPut(ctx context.Context, listID, member string, at time.Time) error {
	defer d.lockList(colNotifications + "|" + listID)()
	_, err := d.db.Collection(colNotifications).UpdateOne(ctx, bson.D{{Key: "_id", Value: listID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "ids." + member, Value: at.UTC()}}}}, options.Update().SetUpsert(true))
	return unavailable(err)
}

func (d *DB) listDelete(ctx context.Context, listID, member string) error {
	defer d.lockList(colNotifications + "|" + listID)()
	_, err := d.db.Collection(colNotifications).UpdateOne(ctx, bson.D{{Key: "_id", Value: listID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "ids." + member, Value: ""}}}})
	return unavailable(err)
}
