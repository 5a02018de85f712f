package mongodb

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle"
)

// RebuildLists re-derives every list document (department queues, running
// clocks) and every pending marker from the cases themselves: entries that
// are missing are written, entries no case backs are removed. It reads every
// case once, so it runs at start and on demand, never on a request path.
func (d *DB) RebuildLists(ctx context.Context) error {
	want := map[string]map[string]any{} // bucket _id → member → entry
	parts := map[string]map[string]bool{}
	var pending []pendingDoc
	err := d.EachCase(ctx, func(c *whistle.Case) error {
		if c.Lifecycle.State == whistle.StateReceived {
			pending = append(pending, pendingDoc{ID: c.ID, At: c.ReceivedAt, Urgent: c.Urgent})
		}
		for ref, e := range caseBuckets(c) {
			id := ref.base + "#" + ref.part
			if want[id] == nil {
				want[id] = map[string]any{}
			}
			want[id][ref.member] = e
			if parts[ref.base] == nil {
				parts[ref.base] = map[string]bool{}
			}
			parts[ref.base][ref.part] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	col := d.db.Collection(colBuckets)
	upsert := options.Update().SetUpsert(true)
	for _, p := range pending {
		if _, err := d.db.Collection(colPending).UpdateOne(ctx, bson.D{{Key: "_id", Value: p.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: p.At}, {Key: "urgent", Value: p.Urgent}}}}, upsert); err != nil {
			return unavailable(err)
		}
	}
	for base, ps := range parts {
		set := bson.D{}
		for p := range ps {
			set = append(set, bson.E{Key: "parts." + p, Value: true})
		}
		if _, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: base}}, bson.D{{Key: "$set", Value: set}}, upsert); err != nil {
			return unavailable(err)
		}
	}
	// Remove entries no case backs, then write the wanted ones in one update
	// per bucket document.
	cur, err := col.Find(ctx, bson.D{})
	if err != nil {
		return unavailable(err)
	}
	var docs []struct {
		ID      string              `bson:"_id"`
		Entries map[string]bson.Raw `bson:"entries"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return unavailable(err)
	}
	for _, doc := range docs {
		if !strings.Contains(doc.ID, "#") {
			continue // a directory document
		}
		unset := bson.D{}
		for member := range doc.Entries {
			if _, ok := want[doc.ID][member]; !ok {
				unset = append(unset, bson.E{Key: "entries." + member, Value: ""})
			}
		}
		if len(unset) > 0 {
			if _, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}}, bson.D{{Key: "$unset", Value: unset}}); err != nil {
				return unavailable(err)
			}
		}
	}
	for id, entries := range want {
		set := bson.D{}
		for member, e := range entries {
			set = append(set, bson.E{Key: "entries." + member, Value: e})
		}
		if _, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}}, upsert); err != nil {
			return unavailable(err)
		}
	}
	return nil
}
