// Package store owns Berth's persistent state: etcd (embedded or external),
// typed collections, optimistic transactions, watches and presence leases.
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
// Because a transaction compares every key it read, a transaction that lists
// thousands of keys sends thousands of compares. Embedded etcd is configured
// for that; an external cluster needs a large enough --max-txn-ops.
package store
