package mongodb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"whistle"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

func TestBlobs(t *testing.T) {
	for _, backend := range testenv.Stores() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.Open(t)
			t.Run("ReadsBackWhatWasWrittenAtEveryChunkBoundary", func(t *testing.T) { testBlobRoundTrip(t, db) })
			t.Run("MissingChunkIsNotFoundNotShort", func(t *testing.T) { testBlobMissingChunk(t, db) })
		})
	}
}

func testBlobRoundTrip(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	sizes := []struct {
		name       string
		size       int
		wantChunks int
	}{
		{"empty", 0, 0},
		{"one byte", 1, 1},
		{"exactly one chunk", mongodb.BlobChunkSize, 1},
		{"one chunk and a byte", mongodb.BlobChunkSize + 1, 2},
		{"two and a half chunks", 5 * mongodb.BlobChunkSize / 2, 3},
	}
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			rand.Read(data)
			caseID, blobID := whistle.NewID(), whistle.NewID()
			w, err := db.NewBlob(ctx, caseID, blobID)
			if err != nil {
				t.Fatal(err)
			}
			// Odd write sizes cross chunk boundaries mid-write.
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 300_001)
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Chunks() != tc.wantChunks {
				t.Fatalf("chunks = %d, want %d", w.Chunks(), tc.wantChunks)
			}
			got, err := io.ReadAll(db.OpenBlob(ctx, caseID, blobID, w.Chunks()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes back, wrote %d (or content differs)", len(got), len(data))
			}
		})
	}
}

func testBlobMissingChunk(t *testing.T, db *mongodb.DB) {
	ctx := context.Background()
	caseID, blobID := whistle.NewID(), whistle.NewID()
	w, _ := db.NewBlob(ctx, caseID, blobID)
	w.Write(make([]byte, mongodb.BlobChunkSize+10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteBlob(ctx, caseID, blobID, w.Chunks()); err != nil {
		t.Fatal(err)
	}
	_, err := io.ReadAll(db.OpenBlob(ctx, caseID, blobID, w.Chunks()))
	if whistle.ErrorCode(err) != whistle.ENOTFOUND {
		t.Fatalf("reading a deleted blob: %v, want %s", err, whistle.ENOTFOUND)
	}
}
