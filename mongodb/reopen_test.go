package mongodb_test

import (
	"context"
	"testing"

	"whistle/embedded"
	"whistle/internal/testenv"
	"whistle/mongodb"
)

// Every restart, and every operator command, opens an existing store: the
// schema setup must be repeatable (FerretDB v1.24 crashed on a second
// createIndexes of several existing indexes).
func TestOpeningAnExistingStoreAgainWorks(t *testing.T) {
	dir := t.TempDir()
	f, err := embedded.StartFerretDB(context.Background(), embedded.Backend{SQLiteDir: dir}, testenv.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 3 {
		db, err := mongodb.Open(context.Background(), mongodb.Config{URI: f.URI, EmbeddedSQLiteDir: dir})
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		db.Close(context.Background())
	}
}
