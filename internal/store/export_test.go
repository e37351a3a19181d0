package store

import "context"

// Relist makes the informer list the collection again, as it does when its
// watch breaks (history compacted, leader lost).
func (inf *Informer[T]) Relist(ctx context.Context) error {
	_, err := inf.list(ctx)
	return err
}
