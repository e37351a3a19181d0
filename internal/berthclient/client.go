// Package berthclient owns the client side of Berth's own API actions (see
// ecs.BerthAPIService): awsJson1_1 calls signed with SigV4 as ECS calls
// are, their replies, and their AWS-shaped errors.
package berthclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/ecs"
)

// Client calls one Berth server.
type Client struct {
	// Endpoint is the server's URL, e.g. http://127.0.0.1:9320.
	Endpoint string
	// Region is the region requests are signed for.
	Region      string
	Credentials aws.CredentialsProvider
	// HTTP defaults to a client with a one-minute timeout.
	HTTP *http.Client
}

// Error is an error reply: the AWS error code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ExplainPlacement asks where RunTask would place in's tasks, and why,
// without running them.
func (c *Client) ExplainPlacement(ctx context.Context, in *ecstypes.RunTaskRequest) (*ecs.ExplainPlacementResponse, error) {
	var out ecs.ExplainPlacementResponse
	if err := c.call(ctx, "ExplainPlacement", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+ecstypes.JSONVersion)
	req.Header.Set("X-Amz-Target", ecs.BerthTargetPrefix+"."+op)
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("%s: credentials: %w", op, err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), ecstypes.SigningName, c.Region, time.Now()); err != nil {
		return fmt.Errorf("%s: sign: %w", op, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read reply: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %w", op, decodeError(resp.StatusCode, reply))
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("%s: decode reply: %w", op, err)
	}
	return nil
}

// decodeError reads an awsJson error body: {"__type": "...#Code", "message": "..."}.
func decodeError(status int, body []byte) *Error {
	var env struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Upper   string `json:"Message"`
	}
	e := &Error{Status: status, Code: http.StatusText(status)}
	if json.Unmarshal(body, &env) != nil {
		e.Message = strings.TrimSpace(string(body))
		return e
	}
	if env.Type != "" {
		e.Code = env.Type[strings.LastIndex(env.Type, "#")+1:]
	}
	e.Message = env.Message
	if e.Message == "" {
		e.Message = env.Upper
	}
	return e
}
