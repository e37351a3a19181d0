package ecs

import (
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// errStalePlacement says a placement was planned on a read model older than
// the instance record the transaction read: the instance no longer takes
// the task. The caller plans again on a fresh snapshot.
var errStalePlacement = errors.New("placement planned on stale instance state")

// reserve adds new tasks' reservations to their instances, checking
// against the instance records that each instance is ACTIVE and every task
// still fits. The records come from the read model and the transaction
// assumes them at their cached revisions: if one changed since (a
// concurrent placement or release, a drain), the commit conflicts and the
// placement runs again on a fresher cache, so no round trip is spent
// reading them. It must run before the new tasks are written.
func (s *Service) reserve(tx *store.Tx, rm *readModel, cname string, order []string, byInstance map[string][]reservation) error {
	for _, instID := range order {
		id := cname + "/" + instID
		cached, modRev, ok := rm.instances.GetRev(id)
		if !ok || aws.ToString(cached.Instance.Status) != "ACTIVE" {
			return errStalePlacement
		}
		rec := *cached
		store.Assume(tx, instances, id, rec, modRev)
		held, err := s.heldOf(tx, cname, rec)
		if err != nil {
			return err
		}
		reg := rec.Instance.RegisteredResources
		for _, r := range byInstance[instID] {
			if !fits(reg, held, r) {
				return errStalePlacement
			}
			held = held.add(r)
		}
		s.putHeld(tx, cname, instID, rec, held)
	}
	return nil
}

// release gives a stopped task's reservation back to its instance. The
// caller has already written the task as released.
func (s *Service) release(tx *store.Tx, cname, instID string, r reservation) error {
	rec, err := store.Get(tx, instances, cname+"/"+instID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get instance %s: %w", instID, err)
	}
	var held reservation
	if rec.Held == nil {
		// A record from before Held: the scan already leaves this task out.
		if held, err = s.heldOf(tx, cname, rec); err != nil {
			return err
		}
	} else {
		held = rec.Held.sub(r)
	}
	s.putHeld(tx, cname, instID, rec, held)
	return nil
}

// putHeld writes an instance with new holdings and the remaining resources
// they leave.
func (s *Service) putHeld(tx *store.Tx, cname, instID string, rec instanceRecord, held reservation) {
	rec.Held = &held
	rec.Instance.RemainingResources = remaining(rec.Instance.RegisteredResources, held)
	rec.Instance.Version = aws.Int64(aws.ToInt64(rec.Instance.Version) + 1)
	store.Put(tx, instances, cname+"/"+instID, rec)
}

// fits reports whether a task's reservation fits on an instance that
// registered reg and holds held.
func fits(reg []ecstypes.Resource, held, r reservation) bool {
	if r.CPU > resourceInt(reg, resCPU)-held.CPU || r.Memory > resourceInt(reg, resMemory)-held.Memory {
		return false
	}
	taken := func(p string, registered []string, h []string) bool {
		return slices.Contains(registered, p) || slices.Contains(h, p)
	}
	for _, p := range r.Ports {
		if taken(p, resourceSet(reg, resPorts), held.Ports) {
			return false
		}
	}
	for _, p := range r.PortsUDP {
		if taken(p, resourceSet(reg, resPortsUDP), held.PortsUDP) {
			return false
		}
	}
	// A GPU must be one the instance registered, and free.
	for _, g := range r.GPUs {
		if !slices.Contains(resourceSet(reg, resGPU), g) || slices.Contains(held.GPUs, g) {
			return false
		}
	}
	return true
}

// heldOf is what the tasks on an instance hold: its Held sum, or, in a
// record from before Berth kept one, the sum over its unreleased tasks read
// once from etcd (untracked: every placement and release writes the
// instance record, which the caller reads tracked and writes with Held set).
func (s *Service) heldOf(tx *store.Tx, cname string, rec instanceRecord) (reservation, error) {
	if rec.Held != nil {
		return *rec.Held, nil
	}
	arn := aws.ToString(rec.Instance.ContainerInstanceArn)
	ts, err := store.ListUntracked(tx, tasks, cname+"/")
	if err != nil {
		return reservation{}, fmt.Errorf("list tasks: %w", err)
	}
	var held reservation
	for _, t := range ts {
		if aws.ToString(t.Task.ContainerInstanceArn) == arn && !t.Released {
			held = held.add(t.Reserved)
		}
	}
	return held, nil
}
