package mongodb

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"whistle"
)

// A bucket list is a family of documents that together list members with a
// small entry each, split into time partitions so no document grows without
// bound:
//
//	{_id: "<base>"}          directory: {parts: {"2026w48": true, …}}
//	{_id: "<base>#<part>"}   {entries: {"<member>": {…}, …}}
//
// Every read and write is by _id. Members and parts never contain '.' or '$'
// (ids are base32; parts are digits and 'w'/'-').
type bucketRef struct{ base, part, member string }

type bucketDir struct {
	Parts map[string]bool `bson:"parts"`
}

type bucket[T any] struct {
	Entries map[string]T `bson:"entries"`
}

// listLocks serialise updates of one list document within a process in
// single-process mode: FerretDB applies $set/$unset as read-modify-write,
// and 50 concurrent $set of distinct fields on one document kept 20
// (measured). They are a table apart from the case locks, always taken after
// a case lock and one at a time, so they cannot deadlock with them.
var listLocks = newStripedLock(1024)

// lockList locks one list document if the store runs in single-process mode.
func (d *DB) lockList(id string) func() {
	if d.locks == nil {
		return func() {}
	}
	return listLocks.lock(d.cfg.Database + "\x00" + id)
}

func (d *DB) bucketPut(ctx context.Context, ref bucketRef, entry any) error {
	col := d.db.Collection(colBuckets)
	upsert := options.Update().SetUpsert(true)
	dirKey := d.cfg.Database + "\x00" + ref.base + "#" + ref.part
	if _, ok := d.knownParts.Load(dirKey); !ok {
		unlock := d.lockList(ref.base)
		_, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: ref.base}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "parts." + ref.part, Value: true}}}}, upsert)
		unlock()
		if err != nil {
			return unavailable(err)
		}
		d.knownParts.Store(dirKey, true)
	}
	defer d.lockList(ref.base + "#" + ref.part)()
	_, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: ref.base + "#" + ref.part}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "entries." + ref.member, Value: entry}}}}, upsert)
	return unavailable(err)
}

func (d *DB) bucketDelete(ctx context.Context, ref bucketRef) error {
	defer d.lockList(ref.base + "#" + ref.part)()
	_, err := d.db.Collection(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: ref.base + "#" + ref.part}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "entries." + ref.member, Value: ""}}}})
	return unavailable(err)
}

// bucketParts returns the partitions of a list in ascending order.
func (d *DB) bucketParts(ctx context.Context, base string) ([]string, error) {
	var dir bucketDir
	err := d.db.Collection(colBuckets).FindOne(ctx, bson.D{{Key: "_id", Value: base}}).Decode(&dir)
	if err == mongo.ErrNoDocuments {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	parts := make([]string, 0, len(dir.Parts))
	for p := range dir.Parts {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	return parts, nil
}

func bucketEntries[T any](ctx context.Context, d *DB, base, part string) (map[string]T, error) {
	var b bucket[T]
	err := d.db.Collection(colBuckets).FindOne(ctx, bson.D{{Key: "_id", Value: base + "#" + part}}).Decode(&b)
	if err == mongo.ErrNoDocuments {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return b.Entries, nil
}

// QueueEntry is one row of a department's case queue.
type QueueEntry struct {
	CaseID     string        `bson:"-"`
	State      whistle.State `bson:"state"`
	Due        time.Time     `bson:"due"`
	Urgent     bool          `bson:"urgent"`
	Kind       string        `bson:"kind,omitempty"`
	County     string        `bson:"county,omitempty"`
	ReceivedAt time.Time     `bson:"received_at"`
	Supervised bool          `bson:"supervised,omitempty"`
}

// ClockEntry is one running statutory clock.
type ClockEntry struct {
	CaseID string    `bson:"case_id"`
	Name   string    `bson:"name"`
	Due    time.Time `bson:"due"`
}

func queueBase(dept, city string) string { return "queue|" + dept + "|" + city }

const clocksBase = "clocks"

// weekPart partitions by ISO week so a queue page reads one or two documents.
func weekPart(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%04dw%02d", y, w)
}

// dayPart partitions clocks by day so the sweep reads only what is due.
func dayPart(t time.Time) string { return t.UTC().Format("2006-01-02") }

// caseBuckets lists every bucket entry a case should have.
func caseBuckets(c *whistle.Case) map[bucketRef]any {
	out := map[bucketRef]any{}
	if c == nil || c.Lifecycle.Department == "" || c.Lifecycle.State == whistle.StateClosed {
		return out
	}
	due := c.ReceivedAt
	for _, k := range c.Clocks {
		if k.Stopped == nil {
			out[bucketRef{clocksBase, dayPart(k.Due), c.ID + "~" + k.Name}] = ClockEntry{CaseID: c.ID, Name: k.Name, Due: k.Due.UTC()}
			if due.Equal(c.ReceivedAt) || k.Due.Before(due) {
				due = k.Due
			}
		}
	}
	out[bucketRef{queueBase(c.Lifecycle.Department, c.City), weekPart(due), c.ID}] = QueueEntry{
		State: c.Lifecycle.State, Due: due.UTC(), Urgent: c.Urgent, Kind: c.Kind, County: c.County,
		ReceivedAt: c.ReceivedAt.UTC(), Supervised: c.Lifecycle.Supervised,
	}
	return out
}

// syncBuckets moves a case's list entries from what before had to what after
// has. Before the case write it adds (pre=true); after it removes (pre=false):
// a crash in between leaves an extra entry, which readers check against the
// case and Reconcile removes, but never a missing one.
func (d *DB) syncBuckets(ctx context.Context, before, after *whistle.Case, pre bool) error {
	old, cur := caseBuckets(before), caseBuckets(after)
	if pre {
		for ref, e := range cur {
			if prev, ok := old[ref]; ok && reflect.DeepEqual(prev, e) {
				continue
			}
			if err := d.bucketPut(ctx, ref, e); err != nil {
				return err
			}
		}
		return nil
	}
	for ref := range old {
		if _, ok := cur[ref]; !ok {
			if err := d.bucketDelete(ctx, ref); err != nil {
				return err
			}
		}
	}
	return nil
}

// Queue returns one page of a department's open cases in a city, most urgent
// deadline first. It reads the list directory and as many weekly partitions
// as the page needs: a handful of _id lookups whatever the collection size.
func (d *DB) Queue(ctx context.Context, dept, city string, offset, limit int) (rows []QueueEntry, more bool, err error) {
	base := queueBase(dept, city)
	parts, err := d.bucketParts(ctx, base)
	if err != nil {
		return nil, false, err
	}
	need := offset + limit + 1
	for _, p := range parts {
		entries, err := bucketEntries[QueueEntry](ctx, d, base, p)
		if err != nil {
			return nil, false, err
		}
		for id, e := range entries {
			e.CaseID = id
			rows = append(rows, e)
		}
		if len(rows) >= need {
			break
		}
	}
	slices.SortFunc(rows, func(a, b QueueEntry) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.CaseID, b.CaseID)
	})
	if offset >= len(rows) {
		return nil, false, nil
	}
	rows = rows[offset:]
	if len(rows) > limit {
		return rows[:limit], true, nil
	}
	return rows, false, nil
}

// DueClocks returns running clocks due at or before t.
func (d *DB) DueClocks(ctx context.Context, t time.Time) ([]ClockEntry, error) {
	parts, err := d.bucketParts(ctx, clocksBase)
	if err != nil {
		return nil, err
	}
	var out []ClockEntry
	last := dayPart(t)
	for _, p := range parts {
		if p > last {
			break
		}
		entries, err := bucketEntries[ClockEntry](ctx, d, clocksBase, p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Due.After(t) {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b ClockEntry) int { return a.Due.Compare(b.Due) })
	return out, nil
}
