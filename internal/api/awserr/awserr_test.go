package awserr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
		wantLogged bool
	}{
		{"modeled error", ClusterNotFound("Cluster not found."), 400, CodeClusterNotFound, "Cluster not found.", false},
		{"wrapped modeled error", fmt.Errorf("describe: %w", InvalidParameter("bad %s", "x")), 400, CodeInvalidParameter, "bad x", false},
		{"server fault", Server("try again"), 500, CodeServer, "try again", false},
		{"auth error", MissingAuthenticationToken("Missing Authentication Token"), 403, CodeMissingAuthToken, "Missing Authentication Token", false},
		{"too large", RequestEntityTooLarge("big"), 413, CodeRequestEntityTooLarge, "big", false},
		{"zero status uses table", &Error{Code: CodeUnrecognizedClient, Message: "m"}, 403, CodeUnrecognizedClient, "m", false},
		{"plain error is hidden", errors.New("etcd: dial 10.0.0.3:2379 refused"), 500, CodeInternalFailure, InternalMessage, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			rec := httptest.NewRecorder()
			WriteJSONLogged(rec, slog.New(slog.NewTextHandler(&logs, nil)), "req-1", tt.err)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			h := rec.Header()
			if h.Get("Content-Type") != ContentTypeJSON11 || h.Get(HeaderErrorType) != tt.wantCode || h.Get(HeaderRequestID) != "req-1" {
				t.Fatalf("headers = %v", h)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["__type"] != tt.wantCode || body["message"] != tt.wantMsg {
				t.Fatalf("body = %v", body)
			}
			if logged := strings.Contains(logs.String(), "req-1"); logged != tt.wantLogged {
				t.Fatalf("logged = %v, want %v: %s", logged, tt.wantLogged, logs.String())
			}
		})
	}
}

func TestStatusTable(t *testing.T) {
	tests := map[string]int{
		CodeInternalFailure: 500, CodeInvalidSignature: 403, CodeQuerySignatureMismatch: 403,
		CodeIncompleteSignature: 400, CodeQueryAccessDenied: 403, CodeInvalidAction: 400,
		"NeverRegisteredException": 400,
	}
	for code, want := range tests {
		if got := Status(code); got != want {
			t.Errorf("Status(%s) = %d, want %d", code, got, want)
		}
	}
	// A code only a service's table knows is left for that table to decide.
	if got := Newf("LoadBalancerNotFound", "gone").Status; got != 0 {
		t.Errorf("Newf of a service code: status = %d, want 0", got)
	}
	if got := Server("x").Status; got != 500 {
		t.Errorf("Server status = %d, want 500", got)
	}
}

func TestEncodeXML(t *testing.T) {
	tests := []struct {
		name string
		e    *Error
		want string
	}{
		{"sender", &Error{Code: CodeQuerySignatureMismatch, Message: "a <b> & 'c'", Status: 403},
			`<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
				`<Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>a &lt;b&gt; &amp; &#39;c&#39;</Message></Error>` +
				`<RequestId>req-1</RequestId></ErrorResponse>`},
		{"receiver", &Error{Code: CodeInternalFailure, Message: "m", Status: 500},
			`<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">` +
				`<Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>m</Message></Error>` +
				`<RequestId>req-1</RequestId></ErrorResponse>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			EncodeXML(rec, "https://sts.amazonaws.com/doc/2011-06-15/", "req-1", tt.e)
			if rec.Code != tt.e.Status || rec.Header().Get("Content-Type") != ContentTypeXML || rec.Header().Get(HeaderRequestID) != "req-1" {
				t.Fatalf("status %d headers %v", rec.Code, rec.Header())
			}
			if got := rec.Body.String(); got != tt.want {
				t.Fatalf("body =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	err := fmt.Errorf("op: %w", ClusterNotFound("no %s", "cluster"))
	if !errors.Is(err, &Error{Code: CodeClusterNotFound}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(err, &Error{Code: CodeClient}) {
		t.Error("errors.Is matched a different code")
	}
	if got := Server("x").Fault(); got != "Receiver" {
		t.Errorf("Fault = %s", got)
	}
	if got := Client("x").Error(); got != "ClientException: x" {
		t.Errorf("Error() = %s", got)
	}
}
