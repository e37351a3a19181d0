package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// ErrNotFound is returned (wrapped with the key) by Get when the id is absent.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Update when its transaction kept conflicting
// with concurrent writers after all retries.
var ErrConflict = errors.New("transaction conflict")

// ErrReadOnly is returned by View when fn tried to write.
var ErrReadOnly = errors.New("write in read-only transaction")

// ErrClosed is returned by operations started after Close.
var ErrClosed = errors.New("store closed")

const (
	dialTimeout   = 10 * time.Second
	revokeTimeout = 5 * time.Second
	maxSendBytes  = embedMaxReqBytes + 1<<20
	// DefaultCallTimeout bounds every etcd call a request makes, so that an
	// unreachable etcd fails requests within seconds instead of hanging them.
	DefaultCallTimeout = 5 * time.Second
)

// Config configures Open.
type Config struct {
	DataDir   string   // embedded etcd data lives in DataDir/etcd when Endpoints is empty
	Endpoints []string // external etcd cluster; empty = start embedded etcd
	Namespace string   // key prefix, e.g. "/berth/000000000000/us-east-1"
	Logger    *slog.Logger
	// CallTimeout bounds each etcd call (default DefaultCallTimeout).
	CallTimeout time.Duration
}

// Store is a handle on Berth's etcd state under one namespace. It is safe
// for concurrent use. WithNamespace gives views onto other namespaces that
// share the connection; Close the Store that Open returned.
type Store struct {
	*core
	ns string
}

// core is the connection and lifecycle shared by a Store and its views.
type core struct {
	client      *clientv3.Client
	etcd        *embed.Etcd // nil when using an external cluster
	log         *slog.Logger
	callTimeout time.Duration
	presence    *presence
	leases      *leaseCache
	// progressOK is set when every etcd member answers watch progress
	// requests correctly (see Informer.SyncTo).
	progressOK bool

	// done is cancelled by Close; background goroutines (watches, holds)
	// stop on it and Close waits for them before closing the client.
	done      context.Context
	cancel    context.CancelFunc
	mu        sync.Mutex // guards closed against bg.Add racing Close's bg.Wait
	closed    bool
	stopping  atomic.Bool // set when shutting down; quiets etcd's logs
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the external etcd cluster in cfg.Endpoints or, when there
// is none, starts an embedded single-member etcd in cfg.DataDir/etcd.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "store")
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	s := &Store{core: &core{log: log, callTimeout: cfg.CallTimeout}, ns: strings.TrimRight(cfg.Namespace, "/")}

	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		if cfg.DataDir == "" {
			return nil, errors.New("open store: DataDir is required for embedded etcd")
		}
		e, url, err := startEmbedded(filepath.Join(cfg.DataDir, "etcd"), log, &s.stopping)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		s.etcd = e
		endpoints = []string{url}
		log.Debug("embedded etcd ready", "dir", cfg.DataDir, "client", url)
	}

	client, err := clientv3.New(clientv3.Config{
		Endpoints:           endpoints,
		DialTimeout:         dialTimeout,
		Context:             context.WithoutCancel(ctx),
		Logger:              newZapLogger(log, &s.stopping),
		MaxCallSendMsgSize:  maxSendBytes,
		MaxCallRecvMsgSize:  math.MaxInt32,
		PermitWithoutStream: true,
	})
	if err != nil {
		s.stopEmbedded()
		return nil, fmt.Errorf("open store: connect etcd %v: %w", endpoints, err)
	}
	s.client = client
	// clientv3.New does not block on the connection; check it now so Open
	// fails fast on a wrong endpoint instead of on the first request.
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := client.Get(pctx, s.ns+"/", clientv3.WithCountOnly()); err != nil {
		client.Close()
		s.stopEmbedded()
		return nil, fmt.Errorf("open store: reach etcd %v: %w", endpoints, err)
	}
	s.progressOK = progressReliable(pctx, client, log)
	s.done, s.cancel = context.WithCancel(context.Background())
	s.presence = newPresence(s.core)
	s.leases = newLeaseCache(s.core)
	return s, nil
}

// WithNamespace returns a view of the same etcd connection whose keys live
// under ns (e.g. another region's "/berth/<account>/<region>"). Views share
// the lifecycle of the Store they came from: closing any of them closes all.
func (s *Store) WithNamespace(ns string) *Store {
	return &Store{core: s.core, ns: strings.TrimRight(ns, "/")}
}

// callCtx bounds one etcd call.
func (c *core) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.callTimeout)
}

// Close stops watches and presence holds (revoking their leases), closes the
// client and stops embedded etcd. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.stopping.Store(true)
		s.cancel()
		s.bg.Wait()
		s.presence.close()
		if err := s.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			s.closeErr = fmt.Errorf("close etcd client: %w", err)
		}
		s.stopEmbedded()
	})
	return s.closeErr
}

// checkOpen returns ErrClosed once Close has started.
func (s *core) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

func (s *core) stopEmbedded() {
	s.stopping.Store(true)
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// Client is an escape hatch to the underlying etcd client (leader election).
// Keys written through it must stay under Namespace.
func (s *Store) Client() *clientv3.Client { return s.client }

// key is the etcd key of id in the collection called name.
func (s *Store) key(name, id string) string { return s.ns + "/" + name + "/" + id }

// Namespace returns the key prefix of this store, without a trailing slash.
func (s *Store) Namespace() string { return s.ns }

// goBackground runs f on a tracked goroutine unless the store is closed.
func (s *core) goBackground(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
	return true
}

// progressReliable reports whether every endpoint runs an etcd whose watch
// progress notifications never overtake pending events: 3.4.25, 3.5.8 and
// later (etcd-io/etcd#15220).
func progressReliable(ctx context.Context, c *clientv3.Client, log *slog.Logger) bool {
	for _, ep := range c.Endpoints() {
		st, err := c.Status(ctx, ep)
		if err != nil {
			log.Debug("etcd status", "endpoint", ep, "err", err)
			return false
		}
		if !progressFixed(st.Version) {
			log.Info("etcd predates reliable watch progress; caches sync with marker writes", "endpoint", ep, "version", st.Version)
			return false
		}
	}
	return true
}

func progressFixed(version string) bool {
	var major, minor, patch int
	if _, err := fmt.Sscanf(version, "%d.%d.%d", &major, &minor, &patch); err != nil {
		return false
	}
	switch {
	case major != 3:
		return major > 3
	case minor == 4:
		return patch >= 25
	case minor == 5:
		return patch >= 8
	default:
		return minor > 5
	}
}
