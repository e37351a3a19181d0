package ecs

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/store"
)

// Regions is the ECS service of every region a server answers for: one
// Service per region, with its own store namespace
// ("/berth/<account>/<region>"), ARNs and read model, made on first use.
// Which regions a client may use is the SigV4 verifier's concern; Regions
// serves any well-formed region name it is asked for.
type Regions struct {
	cfg      RegionsConfig
	accounts *store.Store // the account's namespace, "/berth/<account>"

	mu       sync.Mutex
	byRegion map[string]*Service
	closed   bool
	// added wakes RunControllers when a region is first used (capacity 1),
	// so that its service controller starts at once.
	added chan struct{}
}

// RegionsConfig configures NewRegions. Template is the Config every
// regional Service gets, with its Store (any namespace of the etcd to use),
// Region and AccountID; Region names the default region, which serves
// requests that carry none (api.RegionFrom).
type RegionsConfig struct {
	Template Config
}

// regionName is what a region looks like ("us-east-1", "eu-central-2",
// "us-gov-west-1"); anything else would make a strange store namespace.
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// ValidRegion reports whether name looks like an AWS region.
func ValidRegion(name string) bool { return regionName.MatchString(name) }

// regionsSeen remembers in etcd which regions have state, so that the
// controllers (one leader for the whole etcd) know where to work.
type regionSeen struct {
	Region string `json:"region"`
}

var regionsSeen = store.NewCollection[regionSeen]("regions")

// NewRegions returns the regional ECS services.
func NewRegions(cfg RegionsConfig) *Regions {
	acct := cfg.Template.Store.WithNamespace("/berth/" + cfg.Template.AccountID)
	return &Regions{cfg: cfg, accounts: acct, byRegion: map[string]*Service{}, added: make(chan struct{}, 1)}
}

// Default is the service of the default region.
func (r *Regions) Default(ctx context.Context) (*Service, error) {
	return r.Get(ctx, r.cfg.Template.Region)
}

// For is the service of the region a request is for.
func (r *Regions) For(ctx context.Context) (*Service, error) {
	region, ok := api.RegionFrom(ctx)
	if !ok || region == "" {
		region = r.cfg.Template.Region
	}
	return r.Get(ctx, region)
}

// Get is the service of a region, made (and the region recorded) on first use.
func (r *Regions) Get(ctx context.Context, region string) (*Service, error) {
	if !ValidRegion(region) {
		return nil, awserr.InvalidParameter("%q is not a valid region.", region)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("ecs regions: %w", store.ErrClosed)
	}
	if s, ok := r.byRegion[region]; ok {
		return s, nil
	}
	if err := r.accounts.Update(ctx, func(tx *store.Tx) error {
		store.Put(tx, regionsSeen, region, regionSeen{Region: region})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("record region %s: %w", region, err)
	}
	cfg := r.cfg.Template
	cfg.Region = region
	cfg.Store = r.accounts.WithNamespace("/berth/" + cfg.AccountID + "/" + region)
	s := New(cfg)
	r.byRegion[region] = s
	select {
	case r.added <- struct{}{}:
	default:
	}
	return s, nil
}

// Known lists the regions with state in etcd, whichever server made them.
func (r *Regions) Known(ctx context.Context) ([]string, error) {
	var out []string
	err := r.accounts.View(ctx, func(tx *store.Tx) error {
		out = out[:0]
		return store.Scan(tx, regionsSeen, "", "", false, func(id string, _ regionSeen) (bool, error) {
			out = append(out, id)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	if !slices.Contains(out, r.cfg.Template.Region) {
		out = append(out, r.cfg.Template.Region)
	}
	return out, nil
}

// Close closes every regional service (their agent sockets end).
func (r *Regions) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, s := range r.byRegion {
		s.Close()
	}
}

// ACSHandler serves agents' ACS websockets in the region of the request.
func (r *Regions) ACSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s, err := r.For(req.Context())
		if err != nil {
			awserr.WriteJSON(w, "", err)
			return
		}
		s.ACSHandler().ServeHTTP(w, req)
	})
}

// TCSHandler is Service.TCSHandler for the region of the request's
// signature.
func (r *Regions) TCSHandler(auth api.Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s, err := r.For(req.Context())
		if err != nil {
			awserr.WriteJSON(w, "", err)
			return
		}
		s.TCSHandler(auth).ServeHTTP(w, req)
	})
}

// RunControllers runs the ECS controllers for every known region until ctx
// is done: the reaper of stopped tasks every interval, and each region's
// service controller (started as its region becomes known, ended with
// ctx). The server runs it under leader election: one server of those
// sharing an etcd at a time.
func (r *Regions) RunControllers(ctx context.Context, interval time.Duration) {
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]bool{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r.startServiceControllers(ctx, &wg, running)
		r.reapAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.added: // a region's first use: start its controller now
		}
	}
}

// startServiceControllers starts the service controller of every known
// region that has none running yet.
func (r *Regions) startServiceControllers(ctx context.Context, wg *sync.WaitGroup, running map[string]bool) {
	regions, err := r.Known(ctx)
	if err != nil {
		return // reapAll says why
	}
	for _, region := range regions {
		if running[region] {
			continue
		}
		s, err := r.Get(ctx, region)
		if err != nil {
			continue
		}
		running[region] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.RunServiceController(ctx)
		}()
	}
}

func (r *Regions) reapAll(ctx context.Context) {
	log := r.cfg.Template.Logger
	regions, err := r.Known(ctx)
	if err != nil {
		if ctx.Err() == nil && log != nil {
			log.Warn("controllers: list regions", "err", err)
		}
		return
	}
	for _, region := range regions {
		s, err := r.Get(ctx, region)
		if err != nil {
			continue
		}
		if n, err := s.ReapStoppedTasks(ctx, StoppedTaskRetention); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reap stopped tasks", "err", err)
			}
		} else if n > 0 {
			s.log.Debug("reaped stopped tasks", "count", n)
		}
	}
}

// regional adapts a Service method to an operation that runs it in the
// region of the request.
func regional[I, O any](r *Regions, m func(*Service, context.Context, *I) (*O, error)) func(context.Context, *I) (*O, error) {
	return func(ctx context.Context, in *I) (*O, error) {
		s, err := r.For(ctx)
		if err != nil {
			return nil, err
		}
		return m(s, ctx, in)
	}
}

// InstanceAddress is Service.InstanceAddress in a region.
func (r *Regions) InstanceAddress(ctx context.Context, region, ec2ID string) (string, bool) {
	s, err := r.Get(ctx, region)
	if err != nil {
		return "", false
	}
	return s.InstanceAddress(ctx, ec2ID)
}
