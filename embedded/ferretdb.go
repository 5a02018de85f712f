package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", the same engine FerretDB embeds
)

// FerretDB is a running embedded FerretDB server.
type FerretDB struct {
	URI string // mongodb:// URI of the loopback listener

	dir    string
	cancel context.CancelFunc
	done   chan error
}

// newMu serialises ferretdb.New, which sets a global of FerretDB's (a data
// race when tests start several servers at once).
var newMu sync.Mutex

// Backend selects FerretDB's storage.
type Backend struct {
	SQLiteDir     string // directory for SQLite files (default backend)
	PostgreSQLURL string // when set, use PostgreSQL instead (CI and tests)
}

// StartFerretDB starts FerretDB listening on a random loopback port and waits
// until it accepts connections. Stop it with Close after disconnecting clients.
func StartFerretDB(ctx context.Context, b Backend, logger *slog.Logger) (*FerretDB, error) {
	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		// FerretDB logs every connection and dumps error replies at lower levels.
		Logger: logger,
	}
	if b.PostgreSQLURL != "" {
		cfg.Handler = "postgresql"
		cfg.PostgreSQLURL = b.PostgreSQLURL
	} else {
		if err := os.MkdirAll(b.SQLiteDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		abs, err := filepath.Abs(b.SQLiteDir)
		if err != nil {
			return nil, err
		}
		cfg.Handler = "sqlite"
		cfg.SQLiteURL = "file:" + abs + "/" // FerretDB requires the file: scheme and a trailing slash
	}
	newMu.Lock() // ferretdb.New writes a package-level version field
	f, err := ferretdb.New(cfg)
	newMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("start embedded FerretDB: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	fd := &FerretDB{dir: b.SQLiteDir, cancel: cancel, done: make(chan error, 1)}
	go func() { fd.done <- f.Run(runCtx) }()
	// The listener is bound inside New, so MongoDBURI is valid right away.
	fd.URI = f.MongoDBURI()
	select {
	case err := <-fd.done:
		cancel()
		return nil, fmt.Errorf("embedded FerretDB stopped: %w", err)
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	default:
	}
	return fd, nil
}

// Close stops FerretDB and waits for it to release its files.
func (f *FerretDB) Close() error {
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("embedded FerretDB did not stop within 10s")
	}
}

// IndexIDs creates, for each named collection of database db, the SQLite
// expression index that FerretDB's own `_id` lookups can use. It is idempotent
// and must be re-run after a collection is (re)created. The collections must
// exist already (FerretDB creates their tables lazily).
//
// The connection is opened with a busy timeout (FerretDB writes concurrently)
// and closed at once: a connection kept across FerretDB's dropDatabase turns
// into SQLITE_NOTADB.
func IndexIDs(ctx context.Context, sqliteDir, db string, collections []string) error {
	path := filepath.Join(sqliteDir, db+".sqlite")
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer conn.Close()

	want := make(map[string]bool, len(collections))
	for _, c := range collections {
		want[c] = true
	}
	rows, err := conn.QueryContext(ctx, `SELECT name, table_name FROM "_ferretdb_collections"`)
	if err != nil {
		return fmt.Errorf("read FerretDB metadata: %w", err)
	}
	tables := map[string]string{}
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			rows.Close()
			return err
		}
		if want[name] {
			tables[name] = table
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, name := range collections {
		table, ok := tables[name]
		if !ok {
			return fmt.Errorf("collection %q has no FerretDB table yet", name)
		}
		// The "whistle_" prefix cannot collide with FerretDB's "<table>_<index>" names.
		index := "whistle_" + strings.ReplaceAll(table, `"`, "") + "_id_expr"
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, index, table)
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
	}
	return nil
}
