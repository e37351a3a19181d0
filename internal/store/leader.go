package store

import (
	"context"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// LeaderTTL is how long a leader that died without resigning keeps its
// election: another process takes over within about this long.
const LeaderTTL = 5 * time.Second

// Lead runs fn each time this process wins the named election, with a
// context that ends as soon as leadership is lost (its lease expired, etcd
// unreachable) or ctx is done; it then campaigns again. At most one process
// on the etcd cluster runs fn for a name at a time. id names this process in
// the election (for logs and tools). Lead returns when ctx is done or the
// store closes, resigning if it leads.
func (s *Store) Lead(ctx context.Context, name, id string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.done, cancel)
	defer stop()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 && jitteredWait(ctx, holdRetryBase, holdRetryMax, attempt) != nil {
			return
		}
		if s.leadOnce(ctx, name, id, fn, s.log.Info) {
			attempt = 0
		}
	}
}

// leadOnce campaigns once and, if elected, runs fn until leadership ends.
// It reports whether it led.
func (s *Store) leadOnce(ctx context.Context, name, id string, fn func(context.Context), logf func(string, ...any)) bool {
	sess, err := concurrency.NewSession(s.client, concurrency.WithTTL(int(LeaderTTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("election: no session", "election", name, "err", err)
		}
		return false
	}
	defer sess.Close() // revokes the lease: a follower takes over at once
	e := concurrency.NewElection(sess, s.ns+"/_elections/"+name)
	if err := e.Campaign(ctx, id); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("election: campaign failed", "election", name, "err", err)
		}
		return false
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with lctx, at the latest when fn returns
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	logf("leading", "election", name, "id", id)
	fn(lctx)
	if ctx.Err() == nil {
		logf("leadership lost", "election", name, "id", id)
	} else {
		logf("stepping down", "election", name, "id", id)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer rcancel()
	_ = e.Resign(rctx)
	return true
}
