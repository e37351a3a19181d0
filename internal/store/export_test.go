package store

import "context"

// Relist makes the informer list the collection again, as it does when its
// watch breaks (history compacted, leader lost).
func (inf *Informer[T]) Relist(ctx context.Context) error {
	_, err := inf.list(ctx)
	return err
}

// Watching reports whether the informer's watch is open: etcd has created
// the watcher (clientv3's Watch returns only then).
func (inf *Informer[T]) Watching() bool {
	inf.mu.RLock()
	defer inf.mu.RUnlock()
	return inf.watchCtx != nil
}
