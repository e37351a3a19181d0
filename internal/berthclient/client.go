// Package berthclient owns the client side of Berth's own API actions (see
// ecs.BerthAPIService): awsJson1_1 calls signed with SigV4 as ECS calls
// are, their replies, and their AWS-shaped errors; and of Berth's own
// plain routes (the vulnerability database, ecr.VulnDBPath), signed for
// service "ecr" with their bodies streamed.
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

	"github.com/berth-dev/berth/internal/api/gen/ecrtypes"
	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/ecr"
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

// ImportVulnDB sends a zip of OSV records (size bytes of body, whose
// SHA-256 is sum, hex) to the server as the account's vulnerability
// database. The body is streamed, its hash signed; ctx bounds the call
// (the client's HTTP timeout does not: a large database takes a while).
func (c *Client) ImportVulnDB(ctx context.Context, body io.Reader, size int64, sum string) (*ecr.VulnDBStatus, error) {
	var out ecr.VulnDBStatus
	if err := c.plain(ctx, http.MethodPut, ecr.VulnDBPath, body, size, sum, &out); err != nil {
		return nil, fmt.Errorf("import vulnerability database: %w", err)
	}
	return &out, nil
}

// VulnDBStatus describes the account's vulnerability database.
func (c *Client) VulnDBStatus(ctx context.Context) (*ecr.VulnDBStatus, error) {
	var out ecr.VulnDBStatus
	empty := sha256.Sum256(nil)
	if err := c.plain(ctx, http.MethodGet, ecr.VulnDBPath, http.NoBody, 0, hex.EncodeToString(empty[:]), &out); err != nil {
		return nil, fmt.Errorf("vulnerability database status: %w", err)
	}
	return &out, nil
}

// plain calls one of Berth's plain routes, signed for service "ecr" with
// the body's hash, and decodes its JSON reply.
func (c *Client) plain(ctx context.Context, method, path string, body io.Reader, size int64, sum string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Endpoint, "/")+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/zip")
	req.Header.Set("X-Amz-Content-Sha256", sum)
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, sum, ecrtypes.SigningName, c.Region, time.Now()); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{} // ctx is the deadline
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp.StatusCode, reply)
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	return nil
}
