package mongodb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Duplicate detection keeps two kinds of document in the dupbands
// collection, both read by _id only:
//
//	{_id: "band|<hex token>", cases: {"<case id>": <received at>, …}}  one per blind band token
//	{_id: "fp|<case id>", fp: <opaque fingerprint>, bands: ["<hex>", …], at}
//
// Band tokens are keyed blind tokens (HMAC under a key derived from the
// service master secret) of fingerprint bands, so the store never holds
// anything computed from the text that can be checked without the secret.
// A report's candidates are the cases sharing a band; the fingerprint
// document lets the worker score them.
type bandDoc struct {
	Cases map[string]time.Time `bson:"cases"`
}

type fingerprintDoc struct {
	ID    string    `bson:"_id"`
	FP    []byte    `bson:"fp"`
	Bands []string  `bson:"bands"`
	At    time.Time `bson:"at"`
}

func bandID(token []byte) string         { return "band|" + hex.EncodeToString(token) }
func fingerprintID(caseID string) string { return "fp|" + caseID }

// checkMember refuses ids that cannot be a field name of a map entry.
func checkMember(id string) error {
	if id == "" || strings.ContainsAny(id, ".$\x00") {
		return fmt.Errorf("store: %q cannot be a list member", id)
	}
	return nil
}

// LinkFingerprint records a case's fingerprint, adds the case to the list
// of each of its bands, and returns the other cases that share a band with
// it — most shared bands first, then most recent; at most limit. It reads
// each band document once and writes the memberships in one bulk request.
// It is idempotent (a re-run finds the case already listed and skips it as
// a candidate). A band already listing maxPerBand cases takes no more: a
// band that common no longer tells reports apart.
func (d *DB) LinkFingerprint(ctx context.Context, caseID string, fp []byte, bands [][]byte, at time.Time, maxPerBand, limit int) ([]string, error) {
	if err := checkMember(caseID); err != nil {
		return nil, err
	}
	col := d.db.Collection(colDupBands)
	hexes := make([]string, len(bands))
	for i, b := range bands {
		hexes[i] = hex.EncodeToString(b)
	}
	// The fingerprint document goes first: a band entry always has one to score.
	doc := fingerprintDoc{ID: fingerprintID(caseID), FP: fp, Bands: hexes, At: at.UTC()}
	if _, err := col.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.ID}}, doc, options.Replace().SetUpsert(true)); err != nil {
		return nil, unavailable(err)
	}
	shared := map[string]int{}
	latest := map[string]time.Time{}
	// Band reads stay sequential: dozens of concurrent finds per report
	// exhausted the embedded FerretDB's SQLite connection pool and stalled
	// every worker (measured).
	var writes []*mongo.UpdateOneModel
	for _, b := range bands {
		cases, err := d.bandCases(ctx, b)
		if err != nil {
			return nil, err
		}
		for id, t := range cases {
			if id != caseID {
				shared[id]++
				latest[id] = t
			}
		}
		if _, listed := cases[caseID]; listed || len(cases) >= maxPerBand {
			continue
		}
		writes = append(writes, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: bandID(b)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "cases." + caseID, Value: at.UTC()}}}}).SetUpsert(true))
	}
	if err := d.writeBands(ctx, writes); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(shared))
	for id := range shared {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if shared[a] != shared[b] {
			return shared[b] - shared[a]
		}
		if c := latest[b].Compare(latest[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// writeBands changes band memberships. On MongoDB they go in one unordered
// bulk request. On FerretDB (single-process mode) each band is updated on
// its own under that band's list lock: FerretDB applies an update as
// read-modify-write, so two reports adding themselves to one band at once
// could lose one, and concurrent multi-statement bulk updates stalled its
// SQLite connection pool (measured: every worker waiting on a connection).
func (d *DB) writeBands(ctx context.Context, writes []*mongo.UpdateOneModel) error {
	col := d.db.Collection(colDupBands)
	if d.locks == nil {
		if len(writes) == 0 {
			return nil
		}
		models := make([]mongo.WriteModel, len(writes))
		for i, w := range writes {
			models[i] = w
		}
		_, err := col.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		return unavailable(err)
	}
	for _, w := range writes {
		opts := options.Update()
		if w.Upsert != nil {
			opts.SetUpsert(*w.Upsert)
		}
		unlock := d.lockList(colDupBands + "|" + w.Filter.(bson.D)[0].Value.(string))
		_, err := col.UpdateOne(ctx, w.Filter, w.Update, opts)
		unlock()
		if err != nil {
			return unavailable(err)
		}
	}
	return nil
}

func (d *DB) bandCases(ctx context.Context, token []byte) (map[string]time.Time, error) {
	var doc bandDoc
	err := d.db.Collection(colDupBands).FindOne(ctx, bson.D{{Key: "_id", Value: bandID(token)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return doc.Cases, nil
}

// CaseFingerprint returns the fingerprint stored for a case, or nil if none.
func (d *DB) CaseFingerprint(ctx context.Context, caseID string) ([]byte, error) {
	var doc fingerprintDoc
	err := d.db.Collection(colDupBands).FindOne(ctx, bson.D{{Key: "_id", Value: fingerprintID(caseID)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return doc.FP, nil
}

// DeleteFingerprint removes a case from its bands and drops its
// fingerprint (retention). Missing documents are not an error.
func (d *DB) DeleteFingerprint(ctx context.Context, caseID string) error {
	if err := checkMember(caseID); err != nil {
		return err
	}
	col := d.db.Collection(colDupBands)
	var doc fingerprintDoc
	err := col.FindOne(ctx, bson.D{{Key: "_id", Value: fingerprintID(caseID)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return unavailable(err)
	}
	var unsets []*mongo.UpdateOneModel
	for _, h := range doc.Bands {
		unsets = append(unsets, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "band|" + h}}).
			SetUpdate(bson.D{{Key: "$unset", Value: bson.D{{Key: "cases." + caseID, Value: ""}}}}))
	}
	if err := d.writeBands(ctx, unsets); err != nil {
		return err
	}
	_, err = col.DeleteOne(ctx, bson.D{{Key: "_id", Value: doc.ID}})
	return unavailable(err)
}
