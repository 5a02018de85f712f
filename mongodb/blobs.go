package mongodb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"whistle"
)

// Blobs are sealed attachment streams stored as numbered chunk documents,
//
//	{_id: "<caseID>/<attachmentID>/<n>", data: <≤ BlobChunkSize bytes>}
//
// so that every read and write is an exact _id lookup (the only fast query on
// FerretDB) and no document comes near the 16 MiB BSON limit. The bytes are
// already ciphertext: the store never sees a plaintext attachment.
//
// Chunks are written before the case that refers to them. A crash in between
// leaves chunks no case points at; their data key was never stored, so they
// are unreadable (already crypto-shredded) and only cost space.

// BlobChunkSize is the largest chunk document payload.
const BlobChunkSize = 1 << 20

type blobChunk struct {
	ID   string `bson:"_id"`
	Data []byte `bson:"data"`
}

func blobChunkID(caseID, blobID string, n int) string {
	return caseID + "/" + blobID + "/" + strconv.Itoa(n)
}

// BlobWriter buffers up to BlobChunkSize bytes and stores each full buffer
// as one chunk document. Close stores the rest; Chunks then tells how many
// documents hold the blob (record it with the attachment to read it back).
type BlobWriter struct {
	ctx            context.Context
	d              *DB
	caseID, blobID string
	buf            []byte
	chunks         int
	err            error
	closed         bool
}

// NewBlob starts writing the blob blobID of case caseID.
func (d *DB) NewBlob(ctx context.Context, caseID, blobID string) (*BlobWriter, error) {
	if caseID == "" || blobID == "" {
		return nil, errors.New("store: blob needs a case id and a blob id")
	}
	return &BlobWriter{ctx: ctx, d: d, caseID: caseID, blobID: blobID, buf: make([]byte, 0, BlobChunkSize)}, nil
}

// Write buffers p, storing a chunk whenever the buffer is full.
func (w *BlobWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.err != nil {
			return written, w.err
		}
		if w.closed {
			return written, errors.New("store: write to a closed blob")
		}
		if len(w.buf) == cap(w.buf) {
			w.flush()
			continue
		}
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		written += n
	}
	return written, w.err
}

func (w *BlobWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	_, err := w.d.db.Collection(colBlobs).InsertOne(w.ctx, blobChunk{ID: blobChunkID(w.caseID, w.blobID, w.chunks), Data: w.buf})
	if err != nil {
		w.err = unavailable(err)
		return
	}
	w.chunks++
	w.buf = w.buf[:0]
}

// Close stores the buffered rest. An empty blob has zero chunks.
func (w *BlobWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.flush()
	w.closed = true
	return w.err
}

// Chunks is the number of chunk documents written so far.
func (w *BlobWriter) Chunks() int { return w.chunks }

// OpenBlob returns a reader of a blob written with NewBlob in the given number
// of chunks. Chunks are fetched one at a time as the reader advances, so
// memory stays at one chunk whatever the blob size; a missing chunk is an
// ENOTFOUND error, never a silently short blob.
func (d *DB) OpenBlob(ctx context.Context, caseID, blobID string, chunks int) io.Reader {
	return &blobReader{ctx: ctx, d: d, caseID: caseID, blobID: blobID, chunks: chunks}
}

type blobReader struct {
	ctx            context.Context
	d              *DB
	caseID, blobID string
	chunks, next   int
	cur            []byte
}

func (r *blobReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.next >= r.chunks {
			return 0, io.EOF
		}
		var c blobChunk
		err := r.d.db.Collection(colBlobs).FindOne(r.ctx, bson.D{{Key: "_id", Value: blobChunkID(r.caseID, r.blobID, r.next)}}).Decode(&c)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return 0, &whistle.Error{Code: whistle.ENOTFOUND, Message: "附件数据缺失。",
				Err: fmt.Errorf("blob %s/%s chunk %d of %d missing", r.caseID, r.blobID, r.next, r.chunks)}
		}
		if err != nil {
			return 0, unavailable(err)
		}
		r.cur = c.Data
		r.next++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// DeleteBlob removes the chunks of a blob (retention, or a submission that
// failed after its attachments were stored). Missing chunks are not an error.
func (d *DB) DeleteBlob(ctx context.Context, caseID, blobID string, chunks int) error {
	col := d.db.Collection(colBlobs)
	for n := range chunks {
		if _, err := col.DeleteOne(ctx, bson.D{{Key: "_id", Value: blobChunkID(caseID, blobID, n)}}); err != nil {
			return unavailable(err)
		}
	}
	return nil
}
