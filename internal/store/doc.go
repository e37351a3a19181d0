// Package store owns Berth's persistent state: etcd (embedded or external),
// typed collections, optimistic transactions, informers (list + watch
// caches), presence, leader election and expiring keys.
//
// Every key lives under Config.Namespace; a Collection[T] names a kind of
// object ("ecs/clusters") and maps ids to keys Namespace/name/id. Values are
// JSON. Raw keys never leave this package.
//
// Transactions are optimistic: Update reads at one snapshot revision, buffers
// writes and commits them only if every key it read (including keys returned
// by List, and keys read as missing) still has the mod revision it saw; on a
// conflict fn is re-run. List does not detect keys created under its prefix
// after the snapshot (phantoms): to guard uniqueness, Get the specific id.
//
// Because a transaction compares every key it read, callers keep tracked
// reads few (an external etcd allows 128 operations per transaction by
// default): they find what to read with untracked scans (ListUntracked,
// Scan) or an Informer, and read tracked only what they decide on.
//
// An Informer keeps an in-memory copy of a collection (list, then watch) with
// secondary indexes, for readers that would otherwise scan; SyncTo makes it
// reflect a given revision. Present keeps keys alive with one lease per
// process; Lead runs a function under etcd leader election; PutExpiring
// writes keys etcd deletes on its own. Every etcd call has a deadline
// (Config.CallTimeout).
package store
