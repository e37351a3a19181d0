// Package ecrfake owns a fake ECR endpoint for tests: an httptest server
// answering GetAuthorizationToken (awsJson1_1) that checks each request's
// SigV4 signature for service "ecr" with a test credential, records what
// it saw, and answers with tokens or errors the test chooses.
package ecrfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/berth-dev/berth/internal/api/sigv4"
)

// Test credential the server accepts.
const (
	AccessKeyID     = "AKIDECRFAKE"
	SecretAccessKey = "ecrfake-secret"
)

// Target is GetAuthorizationToken's X-Amz-Target.
const Target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"

// Credentials returns a provider of the credential the server accepts.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// Call is one request the server received.
type Call struct {
	Target      string
	ContentType string
	// Region and Service are the SigV4 credential scope's, once verified.
	Region, Service string
	// SignatureErr is why the signature was refused; nil if it verified.
	SignatureErr error
}

// Answer is what the server answers a call with: a token (Password, valid
// until Expires), or an error (Status and ErrorType set).
type Answer struct {
	Password  string
	Expires   time.Time
	Status    int
	ErrorType string
	Message   string
	// Wait, when not nil, holds the answer until it is closed.
	Wait <-chan struct{}
}

// Server is the fake endpoint, an http.Handler; URL is set when New
// started it.
type Server struct {
	URL string

	mu     sync.Mutex
	calls  []Call
	answer func(n int) Answer
}

// New starts a Server whose n-th call (from 1) is answered by answer; the
// test's cleanup stops it.
func New(t testing.TB, answer func(n int) Answer) *Server {
	t.Helper()
	s := NewHandler(answer)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// NewHandler returns a Server to mount on a test's own listener (beside a
// registry, as Berth serves both).
func NewHandler(answer func(n int) Answer) *Server {
	return &Server{answer: answer}
}

// Calls returns the calls received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

var verifier = &sigv4.Verifier{
	Lookup: func(id string) (sigv4.Credential, bool) {
		return sigv4.Credential{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Principal: "root"}, id == AccessKeyID
	},
	Regions: sigv4.AnyRegion,
}

// ServeHTTP answers GetAuthorizationToken.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := Call{Target: r.Header.Get("X-Amz-Target"), ContentType: r.Header.Get("Content-Type")}
	v, err := verifier.Check(r, body, "ecr")
	c.Region, c.Service, c.SignatureErr = v.Region, v.Service, err
	s.mu.Lock()
	s.calls = append(s.calls, c)
	n := len(s.calls)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if err != nil {
		writeError(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	if c.Target != Target {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unexpected target "+c.Target)
		return
	}
	a := s.answer(n)
	if a.Wait != nil {
		select {
		case <-a.Wait:
		case <-r.Context().Done():
			return
		}
	}
	if a.ErrorType != "" {
		writeError(w, a.Status, a.ErrorType, a.Message)
		return
	}
	token := base64.StdEncoding.EncodeToString([]byte("AWS:" + a.Password))
	_ = json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
		"authorizationToken": token,
		"expiresAt":          float64(a.Expires.UnixMilli()) / 1000,
		"proxyEndpoint":      "http://" + r.Host,
	}}})
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": fmt.Sprint(msg)})
}
