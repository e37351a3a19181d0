package ecs

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// Service history: ECS's service deployments and service revisions
// ("View service history using Amazon ECS service deployments", "Amazon
// ECS service revisions"), as DescribeServiceDeployments,
// ListServiceDeployments and DescribeServiceRevisions read them
// (services_history_api.go).
//
// Every deployment ("ecs-svc/<19 digits>") that CreateService or
// UpdateService starts has one service revision (what the deployment runs:
// task definition, launch type, load balancers, registries, network,
// container images) and one service deployment (the move from the
// deployments running then, its sources, to that revision, its target).
// Both are written in the transaction that starts the deployment (two
// keys, a third when the service deployment it replaces was still in
// progress; nothing per task), under
// "<cluster>/<service>/<19 digits>" in their collections, so a service's
// history is read by prefix and never with another service's. Their ARNs
// carry the same 19 digits: a revision's id is the digits themselves, a
// service deployment's id is 21 letters and digits, like ECS's, that encode
// them reversibly (serviceDeploymentID), so no mapping is stored.
//
// A service deployment is IN_PROGRESS from its start until the controller
// marks its deployment COMPLETED (SUCCESSFUL) or the circuit breaker fails
// it (STOPPED without rollback; with rollback, ROLLBACK_IN_PROGRESS and then
// ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED as the rollback deployment
// completes or fails). A newer deployment, or DeleteService, stops one
// still in progress (STOPPED). The controller writes these transitions in
// the transaction of its status write-back, and only when one happens.
// Counts (requested, running, pending of the target and sources) are
// stored when the deployment starts and ends; while it is in progress,
// Describe shows them live from the service's deployments[].
//
// A circuit breaker rollback starts a new deployment in Berth (ECS reuses
// the service deployment): it gets no service deployment of its own but a
// revision, a copy of the one rolled back to under the rollback
// deployment's digits, which the failed service deployment's
// rollback.serviceRevisionArn names; the service record remembers which
// service deployment the rollback belongs to (serviceHistory.Rollback).
//
// History is bounded per service: the record keeps the digits of its newest
// maxServiceDeployments service deployments (ECS keeps 90 days; a service
// deployed every day stays under the bound). A service deployment that
// falls off is deleted with its revision (and its rollback's), unless the
// service still runs that revision, in which case it stays until it does
// not. Service records are never deleted (an INACTIVE one stays, and one
// created again over it carries its history on), so nothing is orphaned.
// Deployments started before Berth recorded history have none: their ARNs
// are MISSING.

// maxServiceDeployments is how many service deployments a service keeps.
const maxServiceDeployments = 100

// serviceHistory is what a service record keeps of its history.
type serviceHistory struct {
	// Deployments holds the 19 digits of each service deployment kept,
	// newest first.
	Deployments []string `json:"deployments,omitempty"`
	// Rollback is the circuit breaker's rollback in progress, if any.
	Rollback *historyRollback `json:"rollback,omitempty"`
}

// historyRollback ties a rollback deployment to the service deployment it
// rolls back.
type historyRollback struct {
	Deployment        string `json:"deployment"`        // "ecs-svc/..." id of the rollback deployment
	ServiceDeployment string `json:"serviceDeployment"` // digits of the failed service deployment
}

type serviceDeploymentRecord struct {
	ServiceDeployment ecstypes.ServiceDeployment `json:"serviceDeployment"`
}

type serviceRevisionRecord struct {
	ServiceRevision ecstypes.ServiceRevision `json:"serviceRevision"`
}

var (
	serviceDeployments = store.NewCollection[serviceDeploymentRecord]("ecs/service-deployments")
	serviceRevisions   = store.NewCollection[serviceRevisionRecord]("ecs/service-revisions")
)

// Service deployment statuses, as ECS has them.
const (
	sdInProgress         = ecstypes.ServiceDeploymentStatusINPROGRESS
	sdSuccessful         = ecstypes.ServiceDeploymentStatusSUCCESSFUL
	sdStopped            = ecstypes.ServiceDeploymentStatusSTOPPED
	sdRollbackInProgress = ecstypes.ServiceDeploymentStatusROLLBACKINPROGRESS
	sdRollbackSuccessful = ecstypes.ServiceDeploymentStatusROLLBACKSUCCESSFUL
	sdRollbackFailed     = ecstypes.ServiceDeploymentStatusROLLBACKFAILED
)

// Status reasons of the transitions Berth makes.
const (
	reasonSuperseded     = "Service deployment stopped because a new service deployment started."
	reasonServiceDeleted = "Service deployment stopped because the service was deleted."
	reasonRollbackDone   = "Service deployment rolled back successfully."
	reasonRollbackFailed = "Service deployment rollback failed: tasks failed to start."
	reasonBreakerRolling = "Service deployment rolled back because the circuit breaker threshold was exceeded."
)

// historyID is the store id of a service's revision or service deployment.
func historyID(cluster, service, digits string) string {
	return cluster + "/" + service + "/" + digits
}

// arnDigits is the last segment of a revision's ARN or store id: its digits.
func arnDigits(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

// deploymentDigits is the 19 digits of a deployment id "ecs-svc/<digits>".
func deploymentDigits(id string) string { return strings.TrimPrefix(id, "ecs-svc/") }

// ongoing says whether a service deployment status is one ECS calls ongoing.
func ongoing(status string) bool {
	switch status {
	case sdInProgress, sdRollbackInProgress, ecstypes.ServiceDeploymentStatusPENDING,
		ecstypes.ServiceDeploymentStatusSTOPREQUESTED, ecstypes.ServiceDeploymentStatusROLLBACKREQUESTED:
		return true
	}
	return false
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// serviceDeploymentID is the 21-character id of the service deployment of
// a deployment's 19 digits: 10 characters of a hash of the digits (so ids
// look as unrelated as ECS's), then the number in 11 base-62 digits.
// deploymentOfServiceDeploymentID reverses it.
func serviceDeploymentID(digits string) string {
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || len(digits) != 19 {
		return ""
	}
	sum := sha256.Sum256([]byte("service-deployment/" + digits))
	h := binary.BigEndian.Uint64(sum[:8])
	var b [21]byte
	for i := 9; i >= 0; i-- {
		b[i] = base62[h%62]
		h /= 62
	}
	for i := 20; i >= 10; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return string(b[:])
}

// deploymentOfServiceDeploymentID is the 19 digits a service deployment id
// encodes; ok is false for an id serviceDeploymentID did not make.
func deploymentOfServiceDeploymentID(id string) (digits string, ok bool) {
	if len(id) != 21 {
		return "", false
	}
	var n uint64
	for i := 10; i < 21; i++ {
		k := strings.IndexByte(base62, id[i])
		if k < 0 || n > (^uint64(0)-uint64(k))/62 {
			return "", false
		}
		n = n*62 + uint64(k)
	}
	digits = strconv.FormatUint(n, 10)
	if serviceDeploymentID(digits) != id {
		return "", false
	}
	return digits, true
}

// serviceRevision is a service revision's ARN.
func (a arnBuilder) serviceRevision(cluster, service, digits string) string {
	return a.prefix() + "service-revision/" + historyID(cluster, service, digits)
}

// serviceDeployment is a service deployment's ARN.
func (a arnBuilder) serviceDeployment(cluster, service, digits string) string {
	return a.prefix() + "service-deployment/" + cluster + "/" + service + "/" + serviceDeploymentID(digits)
}

// historyRef parses a service revision or service deployment ARN (typ
// "service-revision" or "service-deployment") into the store id of its
// record; ok is false for a malformed or foreign one.
func (a arnBuilder) historyRef(arn, typ string) (id string, ok bool) {
	t, rest, ok := a.resource(arn)
	if !ok || t != typ {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !validName(parts[0]) || !validName(parts[1]) {
		return "", false
	}
	digits := parts[2]
	if typ == "service-deployment" {
		if digits, ok = deploymentOfServiceDeploymentID(digits); !ok {
			return "", false
		}
	} else if _, err := strconv.ParseUint(digits, 10, 64); err != nil || len(digits) != 19 {
		return "", false
	}
	return historyID(parts[0], parts[1], digits), true
}

// newServiceRevision is the revision a deployment of svc on def runs.
func (s *Service) newServiceRevision(cname string, svc *ecstypes.Service, def ecstypes.TaskDefinition, digits string, now time.Time) ecstypes.ServiceRevision {
	images := make([]ecstypes.ContainerImage, 0, len(def.ContainerDefinitions))
	for _, c := range def.ContainerDefinitions {
		images = append(images, ecstypes.ContainerImage{ContainerName: c.Name, Image: c.Image})
	}
	return ecstypes.ServiceRevision{
		ServiceRevisionArn:       aws.String(s.arns.serviceRevision(cname, aws.ToString(svc.ServiceName), digits)),
		ServiceArn:               svc.ServiceArn,
		ClusterArn:               svc.ClusterArn,
		TaskDefinition:           orString(def.TaskDefinitionArn, svc.TaskDefinition),
		LaunchType:               svc.LaunchType,
		CapacityProviderStrategy: svc.CapacityProviderStrategy,
		PlatformVersion:          svc.PlatformVersion,
		PlatformFamily:           svc.PlatformFamily,
		LoadBalancers:            slices.Clone(orEmpty(svc.LoadBalancers)),
		ServiceRegistries:        slices.Clone(orEmpty(svc.ServiceRegistries)),
		NetworkConfiguration:     svc.NetworkConfiguration,
		ContainerImages:          images,
		GuardDutyEnabled:         aws.Bool(false),
		CreatedAt:                ecstypes.Time(now),
	}
}

// orString is a, or b when a is empty.
func orString(a, b *string) *string {
	if aws.ToString(a) != "" {
		return a
	}
	return b
}

// breakerSummary is the circuit breaker part of a new service deployment.
func breakerSummary(svc *ecstypes.Service, desired int32) *ecstypes.ServiceDeploymentCircuitBreaker {
	status := ecstypes.ServiceDeploymentRollbackMonitorsStatusDISABLED
	if dc := svc.DeploymentConfiguration; dc != nil && dc.DeploymentCircuitBreaker != nil && aws.ToBool(dc.DeploymentCircuitBreaker.Enable) {
		status = ecstypes.ServiceDeploymentRollbackMonitorsStatusMONITORING
	}
	return &ecstypes.ServiceDeploymentCircuitBreaker{
		Status: aws.String(status), FailureCount: aws.Int32(0), Threshold: aws.Int32(int32(breakerThreshold(int(desired)))),
	}
}

// revisionSummary is a revision's counts as deployment d of svc has them
// (requested is its desiredCount).
func (s *Service) revisionSummary(cname, service string, d ecstypes.Deployment) ecstypes.ServiceRevisionSummary {
	return ecstypes.ServiceRevisionSummary{
		Arn:                aws.String(s.arns.serviceRevision(cname, service, deploymentDigits(aws.ToString(d.Id)))),
		RequestedTaskCount: aws.Int32(aws.ToInt32(d.DesiredCount)),
		RunningTaskCount:   aws.Int32(aws.ToInt32(d.RunningCount)),
		PendingTaskCount:   aws.Int32(aws.ToInt32(d.PendingCount)),
	}
}

// recordNewDeployment writes the history of the PRIMARY deployment that
// CreateService or UpdateService just put first in rec's deployments[]:
// its revision (of def) and its service deployment, whose sources are the
// other deployments as they are now. The service deployment it replaces,
// if still ongoing, is STOPPED. rec's history is updated (the caller
// writes rec) and trimmed to maxServiceDeployments.
func (s *Service) recordNewDeployment(tx *store.Tx, rec *serviceRecord, def ecstypes.TaskDefinition, now time.Time) error {
	svc := &rec.Service
	if len(svc.Deployments) == 0 {
		return nil
	}
	cname, name := clusterOfARN(svc), aws.ToString(svc.ServiceName)
	d := svc.Deployments[0]
	digits := deploymentDigits(aws.ToString(d.Id))
	sources := []ecstypes.ServiceRevisionSummary{}
	for _, old := range svc.Deployments[1:] {
		sources = append(sources, s.revisionSummary(cname, name, old))
	}
	h := rec.History
	if h == nil {
		h = &serviceHistory{}
	}
	if len(h.Deployments) > 0 {
		if err := s.stopServiceDeployment(tx, rec, h.Deployments[0], reasonSuperseded, now); err != nil {
			return err
		}
	}
	h.Rollback = nil
	at := ecstypes.Time(now)
	sd := ecstypes.ServiceDeployment{
		ServiceDeploymentArn:     aws.String(s.arns.serviceDeployment(cname, name, digits)),
		ServiceArn:               svc.ServiceArn,
		ClusterArn:               svc.ClusterArn,
		CreatedAt:                cmpTime(d.CreatedAt, at),
		StartedAt:                cmpTime(d.CreatedAt, at),
		UpdatedAt:                at,
		Status:                   aws.String(sdInProgress),
		SourceServiceRevisions:   sources,
		TargetServiceRevision:    ptrTo(s.revisionSummary(cname, name, d)),
		DeploymentConfiguration:  svc.DeploymentConfiguration,
		DeploymentCircuitBreaker: breakerSummary(svc, aws.ToInt32(d.DesiredCount)),
	}
	store.Put(tx, serviceRevisions, historyID(cname, name, digits), serviceRevisionRecord{s.newServiceRevision(cname, svc, def, digits, now)})
	store.Put(tx, serviceDeployments, historyID(cname, name, digits), serviceDeploymentRecord{sd})
	h.Deployments = append([]string{digits}, h.Deployments...)
	rec.History = h
	return s.trimHistory(tx, rec)
}

func ptrTo[T any](v T) *T { return &v }

// cmpTime is t, or else def.
func cmpTime(t, def *ecstypes.Timestamp) *ecstypes.Timestamp {
	if t != nil {
		return t
	}
	return def
}

// stopServiceDeployment stops the service deployment of digits if it is
// still ongoing: STOPPED with reason, its counts as the service has them now.
func (s *Service) stopServiceDeployment(tx *store.Tx, rec *serviceRecord, digits, reason string, now time.Time) error {
	cname, name := clusterOfARN(&rec.Service), aws.ToString(rec.Service.ServiceName)
	id := historyID(cname, name, digits)
	cur, err := store.Get(tx, serviceDeployments, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service deployment %s: %w", id, err)
	}
	sd := &cur.ServiceDeployment
	if !ongoing(aws.ToString(sd.Status)) {
		return nil
	}
	s.liveCounts(sd, rec)
	at := ecstypes.Time(now)
	sd.Status, sd.StatusReason, sd.StoppedAt, sd.UpdatedAt = aws.String(sdStopped), aws.String(reason), at, at
	store.Put(tx, serviceDeployments, id, cur)
	return nil
}

// stopCurrentServiceDeployment is DeleteService's: the service's newest
// service deployment, if ongoing, is STOPPED.
func (s *Service) stopCurrentServiceDeployment(tx *store.Tx, rec *serviceRecord, now time.Time) error {
	if rec.History == nil || len(rec.History.Deployments) == 0 {
		return nil
	}
	rec.History.Rollback = nil
	return s.stopServiceDeployment(tx, rec, rec.History.Deployments[0], reasonServiceDeleted, now)
}

// trimHistory deletes the service deployments past maxServiceDeployments,
// oldest first, with their revisions, keeping any whose revision a
// deployment of the service still runs.
func (s *Service) trimHistory(tx *store.Tx, rec *serviceRecord) error {
	h := rec.History
	if len(h.Deployments) <= maxServiceDeployments {
		return nil
	}
	cname, name := clusterOfARN(&rec.Service), aws.ToString(rec.Service.ServiceName)
	live := map[string]bool{}
	for _, d := range rec.Service.Deployments {
		live[deploymentDigits(aws.ToString(d.Id))] = true
	}
	keep := slices.Clone(h.Deployments[:maxServiceDeployments])
	for _, digits := range h.Deployments[maxServiceDeployments:] {
		if live[digits] {
			keep = append(keep, digits)
			continue
		}
		id := historyID(cname, name, digits)
		old, err := store.Get(tx, serviceDeployments, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("get service deployment %s: %w", id, err)
		case old.ServiceDeployment.Rollback != nil:
			if rid, ok := s.arns.historyRef(aws.ToString(old.ServiceDeployment.Rollback.ServiceRevisionArn), "service-revision"); ok && !live[arnDigits(rid)] {
				store.Delete(tx, serviceRevisions, rid)
			}
		}
		store.Delete(tx, serviceDeployments, id)
		store.Delete(tx, serviceRevisions, id)
	}
	h.Deployments = keep
	return nil
}

// liveCounts sets a service deployment's target and source counts to what
// the service's deployments[] says now (a revision whose deployment has
// drained runs nothing), and its circuit breaker's failure count, while
// the breaker watches, to the failures counted so far.
func (s *Service) liveCounts(sd *ecstypes.ServiceDeployment, rec *serviceRecord) {
	byDigits := map[string]ecstypes.Deployment{}
	for _, d := range rec.Service.Deployments {
		byDigits[deploymentDigits(aws.ToString(d.Id))] = d
	}
	set := func(sum *ecstypes.ServiceRevisionSummary) {
		d, ok := byDigits[arnDigits(aws.ToString(sum.Arn))]
		sum.RunningTaskCount, sum.PendingTaskCount = aws.Int32(aws.ToInt32(d.RunningCount)), aws.Int32(aws.ToInt32(d.PendingCount))
		if ok {
			sum.RequestedTaskCount = aws.Int32(aws.ToInt32(d.DesiredCount))
		}
	}
	if t := sd.TargetServiceRevision; t != nil {
		set(t)
		cb := sd.DeploymentCircuitBreaker
		if d, ok := byDigits[arnDigits(aws.ToString(t.Arn))]; ok && cb != nil &&
			aws.ToString(cb.Status) == ecstypes.ServiceDeploymentRollbackMonitorsStatusMONITORING {
			n := aws.ToInt32(d.FailedTasks)
			if b := rec.Breaker; b != nil && b.Deployment == aws.ToString(d.Id) {
				n += b.FailedRunning
			}
			cb.FailureCount = aws.Int32(n)
			cb.Threshold = aws.Int32(int32(breakerThreshold(int(aws.ToInt32(d.DesiredCount)))))
		}
	}
	for i := range sd.SourceServiceRevisions {
		set(&sd.SourceServiceRevisions[i])
	}
}

// recordDeploymentTransitions is the controller's part (writeServiceStatus,
// in its transaction): where the pass moved a deployment's rolloutState
// (before to after), the service deployment follows. It reads and writes
// only on such a transition, and changes after's history when a rollback
// starts or ends.
func (s *Service) recordDeploymentTransitions(tx *store.Tx, before, after *serviceRecord, obs *serviceObservation, now time.Time) error {
	if after.History == nil || len(after.History.Deployments) == 0 {
		return nil // a service from before Berth kept history
	}
	h := *after.History // after shares it with before: changed on a copy
	after.History = &h
	was := map[string]string{}
	for _, d := range before.Service.Deployments {
		was[aws.ToString(d.Id)] = aws.ToString(d.RolloutState)
	}
	for _, d := range after.Service.Deployments {
		id, state := aws.ToString(d.Id), aws.ToString(d.RolloutState)
		prev, had := was[id]
		if !had || prev == state {
			continue
		}
		var err error
		switch state {
		case rolloutCompleted:
			err = s.deploymentCompleted(tx, after, id, now)
		case rolloutFailed:
			err = s.deploymentFailed(tx, before, after, d, obs, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// getServiceDeployment reads the service deployment of digits of rec's
// service; found is false when there is none.
func getServiceDeployment(tx *store.Tx, rec *serviceRecord, digits string) (serviceDeploymentRecord, string, bool, error) {
	id := historyID(clusterOfARN(&rec.Service), aws.ToString(rec.Service.ServiceName), digits)
	cur, err := store.Get(tx, serviceDeployments, id)
	if errors.Is(err, store.ErrNotFound) {
		return cur, id, false, nil
	}
	if err != nil {
		return cur, id, false, fmt.Errorf("get service deployment %s: %w", id, err)
	}
	return cur, id, true, nil
}

// deploymentCompleted: deployment id reached COMPLETED. Its service
// deployment is SUCCESSFUL, or, for a rollback deployment, the service
// deployment it rolled back is ROLLBACK_SUCCESSFUL.
func (s *Service) deploymentCompleted(tx *store.Tx, rec *serviceRecord, id string, now time.Time) error {
	digits, from, to, reason := deploymentDigits(id), sdInProgress, sdSuccessful, ""
	if rb := rec.History.Rollback; rb != nil && rb.Deployment == id {
		digits, from, to, reason = rb.ServiceDeployment, sdRollbackInProgress, sdRollbackSuccessful, reasonRollbackDone
		rec.History.Rollback = nil
	}
	cur, key, found, err := getServiceDeployment(tx, rec, digits)
	if err != nil || !found || aws.ToString(cur.ServiceDeployment.Status) != from {
		return err
	}
	sd := &cur.ServiceDeployment
	s.liveCounts(sd, rec)
	if cb := sd.DeploymentCircuitBreaker; cb != nil && aws.ToString(cb.Status) == ecstypes.ServiceDeploymentRollbackMonitorsStatusMONITORING {
		cb.Status = aws.String(ecstypes.ServiceDeploymentRollbackMonitorsStatusMONITORINGCOMPLETE)
	}
	at := ecstypes.Time(now)
	sd.Status, sd.FinishedAt, sd.UpdatedAt = aws.String(to), at, at
	if reason != "" {
		sd.StatusReason = aws.String(reason)
	}
	store.Put(tx, serviceDeployments, key, cur)
	return nil
}

// deploymentFailed: the circuit breaker failed deployment d. Its service
// deployment is STOPPED, or ROLLBACK_IN_PROGRESS when the breaker started
// a rollback deployment (the new PRIMARY of after), whose revision is a
// copy of the one rolled back to; a failed rollback deployment makes the
// service deployment it belongs to ROLLBACK_FAILED.
func (s *Service) deploymentFailed(tx *store.Tx, before, after *serviceRecord, d ecstypes.Deployment, obs *serviceObservation, now time.Time) error {
	id := aws.ToString(d.Id)
	h := after.History
	digits, from := deploymentDigits(id), sdInProgress
	if rb := h.Rollback; rb != nil && rb.Deployment == id {
		digits, from = rb.ServiceDeployment, sdRollbackInProgress
		h.Rollback = nil
	}
	cur, key, found, err := getServiceDeployment(tx, after, digits)
	if err != nil || !found || aws.ToString(cur.ServiceDeployment.Status) != from {
		return err
	}
	sd := &cur.ServiceDeployment
	s.liveCounts(sd, after)
	failures := aws.ToInt32(d.FailedTasks)
	if obs != nil && obs.breaker.deployment == id {
		failures += obs.breaker.failedRunning
	}
	if cb := sd.DeploymentCircuitBreaker; cb != nil {
		cb.Status, cb.FailureCount = aws.String(ecstypes.ServiceDeploymentRollbackMonitorsStatusTRIGGERED), aws.Int32(failures)
	}
	at := ecstypes.Time(now)
	sd.UpdatedAt = at
	switch back := rollbackOf(before, after); {
	case from == sdRollbackInProgress:
		sd.Status, sd.StatusReason, sd.FinishedAt = aws.String(sdRollbackFailed), aws.String(reasonRollbackFailed), at
	case back != nil:
		rev, err := s.copyRevision(tx, before, after, aws.ToString(back.Id), now)
		if err != nil {
			return err
		}
		sd.Status, sd.StatusReason = aws.String(sdRollbackInProgress), aws.String(breakerFailedReason)
		sd.Rollback = &ecstypes.Rollback{Reason: aws.String(reasonBreakerRolling), StartedAt: at, ServiceRevisionArn: rev}
		h.Rollback = &historyRollback{Deployment: aws.ToString(back.Id), ServiceDeployment: digits}
	default:
		sd.Status, sd.StatusReason, sd.StoppedAt = aws.String(sdStopped), aws.String(breakerFailedReason), at
	}
	store.Put(tx, serviceDeployments, key, cur)
	return nil
}

// rollbackOf is the rollback deployment a pass started: a PRIMARY of after
// that before did not have.
func rollbackOf(before, after *serviceRecord) *ecstypes.Deployment {
	had := map[string]bool{}
	for _, d := range before.Service.Deployments {
		had[aws.ToString(d.Id)] = true
	}
	for i, d := range after.Service.Deployments {
		if aws.ToString(d.Status) == deploymentPrimary && !had[aws.ToString(d.Id)] {
			return &after.Service.Deployments[i]
		}
	}
	return nil
}

// copyRevision writes the revision of rollback deployment back: a copy of
// the revision of the deployment rolled back to (before's lastCompleted),
// or, if that one is gone, the service's configuration as the rollback
// left it, without container images. It returns the copy's ARN.
func (s *Service) copyRevision(tx *store.Tx, before, after *serviceRecord, back string, now time.Time) (*string, error) {
	cname, name := clusterOfARN(&after.Service), aws.ToString(after.Service.ServiceName)
	digits := deploymentDigits(back)
	var rev ecstypes.ServiceRevision
	if lc := before.LastCompleted; lc != nil {
		src := historyID(cname, name, deploymentDigits(lc.ID))
		old, err := store.Get(tx, serviceRevisions, src)
		switch {
		case err == nil:
			rev = old.ServiceRevision
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("get service revision %s: %w", src, err)
		}
	}
	if rev.ServiceArn == nil {
		rev = s.newServiceRevision(cname, &after.Service, ecstypes.TaskDefinition{TaskDefinitionArn: after.Service.TaskDefinition}, digits, now)
	}
	rev.ServiceRevisionArn = aws.String(s.arns.serviceRevision(cname, name, digits))
	rev.CreatedAt = ecstypes.Time(now)
	store.Put(tx, serviceRevisions, historyID(cname, name, digits), serviceRevisionRecord{rev})
	return rev.ServiceRevisionArn, nil
}

// withCurrentRevisions is a service as the service calls answer with it:
// its current service deployment (the newest) and the revisions its
// deployments run, with their counts.
func (s *Service) withCurrentRevisions(rec *serviceRecord) ecstypes.Service {
	svc := rec.Service
	h := rec.History
	if h == nil || len(h.Deployments) == 0 {
		return svc
	}
	cname, name := clusterOfARN(&svc), aws.ToString(svc.ServiceName)
	svc.CurrentServiceDeployment = aws.String(s.arns.serviceDeployment(cname, name, h.Deployments[0]))
	svc.CurrentServiceRevisions = make([]ecstypes.ServiceCurrentRevisionSummary, 0, len(svc.Deployments))
	for _, d := range svc.Deployments {
		sum := s.revisionSummary(cname, name, d)
		svc.CurrentServiceRevisions = append(svc.CurrentServiceRevisions, ecstypes.ServiceCurrentRevisionSummary{
			Arn: sum.Arn, RequestedTaskCount: sum.RequestedTaskCount, RunningTaskCount: sum.RunningTaskCount, PendingTaskCount: sum.PendingTaskCount,
		})
	}
	return svc
}
