package ecs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/store"
)

// RunTask's clientToken, as ECS documents it ("Ensuring idempotency"): a
// case-sensitive string of up to 64 ASCII characters 33-126, scoped to the
// cluster, valid for 24 hours. A retry with the same token and the same
// parameters returns the first call's result and starts nothing; the same
// token with other parameters is a ConflictException naming the tasks the
// token already started. The SDKs and the AWS CLI fill in a token of their
// own when the caller gives none, so their automatic retries of a RunTask
// that timed out never start its tasks twice.
const (
	runTokenTTL    = 24 * time.Hour
	maxRunTokenLen = 64
)

// runTokenRecord is what a token remembers of the call that used it first.
type runTokenRecord struct {
	RequestHash string             `json:"requestHash"`
	TaskArns    []string           `json:"taskArns"`
	Failures    []ecstypes.Failure `json:"failures,omitempty"`
}

var runTokens = store.NewCollection[runTokenRecord]("ecs/run-task-tokens")

// runToken is one RunTask call's token and the hash of its parameters.
type runToken struct {
	token, requestHash string
}

// newRunToken validates the request's clientToken and hashes the request
// without it; a request without a token gets the zero runToken.
func newRunToken(in *ecstypes.RunTaskRequest) (runToken, error) {
	tok := aws.ToString(in.ClientToken)
	if in.ClientToken == nil {
		return runToken{}, nil
	}
	if tok == "" || len(tok) > maxRunTokenLen {
		return runToken{}, awserr.InvalidParameter("clientToken must be 1 to %d ASCII characters.", maxRunTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 33 || tok[i] > 126 {
			return runToken{}, awserr.InvalidParameter("clientToken may only contain ASCII characters 33 to 126.")
		}
	}
	req := *in
	req.ClientToken = nil
	raw, err := json.Marshal(&req)
	if err != nil {
		return runToken{}, fmt.Errorf("hash RunTask request: %w", err)
	}
	sum := sha256.Sum256(raw)
	return runToken{token: tok, requestHash: hex.EncodeToString(sum[:])}, nil
}

func (t runToken) id(cname string) string {
	sum := sha256.Sum256([]byte(t.token))
	return cname + "/" + hex.EncodeToString(sum[:])
}

// replayRunTask fills out with the first result of a call that used the
// same token, if there was one (done). The token's record is read tracked,
// so two calls with one token at once conflict and the second replays.
func (s *Service) replayRunTask(tx *store.Tx, cname string, t runToken, out *ecstypes.RunTaskResponse) (done bool, err error) {
	if t.token == "" {
		return false, nil
	}
	rec, err := store.Get(tx, runTokens, t.id(cname))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get client token: %w", err)
	}
	if rec.RequestHash != t.requestHash {
		return false, &awserr.Error{
			Code: "ConflictException", Status: 400,
			Message: "The clientToken is already in use with a different RunTask request. Use a unique clientToken, or the original parameters.",
			Fields:  map[string]any{"resourceIds": rec.TaskArns},
		}
	}
	for _, arn := range rec.TaskArns {
		task, err := store.Get(tx, tasks, cname+"/"+idFromARN(arn))
		if errors.Is(err, store.ErrNotFound) {
			continue // reaped since: nothing more to say about it
		}
		if err != nil {
			return false, fmt.Errorf("get task %s: %w", arn, err)
		}
		out.Tasks = append(out.Tasks, task.Task)
	}
	out.Failures = append(out.Failures, rec.Failures...)
	return true, nil
}

// recordRunToken remembers a call's result under its token, in the
// transaction that starts its tasks.
func (s *Service) recordRunToken(tx *store.Tx, cname string, t runToken, out *ecstypes.RunTaskResponse) {
	if t.token == "" {
		return
	}
	rec := runTokenRecord{RequestHash: t.requestHash, TaskArns: []string{}, Failures: out.Failures}
	for _, task := range out.Tasks {
		rec.TaskArns = append(rec.TaskArns, aws.ToString(task.TaskArn))
	}
	store.PutExpiring(tx, runTokens, t.id(cname), rec, runTokenTTL)
}
