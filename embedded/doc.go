// Package embedded runs the zero-configuration backends of Whistle inside the
// process: FerretDB v1 (MongoDB wire protocol over SQLite files in the data
// directory) and miniredis. The rest of the program talks to them through the
// real mongo-driver and asynq clients over loopback, exactly as it talks to
// MongoDB and Redis in production, so no code path exists only for the
// embedded default except what this package hides.
//
// FerretDB v1 never uses its own indexes for reads (see shared/docs/FERRETDB.md):
// every lookup, even by _id, scans the table. IndexIDs adds the SQLite
// expression index that matches FerretDB's own _id query so that by-_id reads
// and writes stay O(log n); the store keeps all hot reads on _id.
package embedded
