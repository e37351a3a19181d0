package api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-dev/berth/internal/api/awserr"
)

const (
	queryVersion = "2026-01-01"
	queryNS      = "https://berthq.amazonaws.com/doc/2026-01-01/"
)

type greetInput struct {
	Name  *string  `query:"Name"`
	Count *int32   `query:"Count"`
	Tags  []string `query:"Tags"`
}

func (in *greetInput) Validate() error {
	if aws.ToString(in.Name) == "bad" {
		return errors.New("1 validation error detected: Value 'bad' at 'name' failed to satisfy constraint: Member must not be bad")
	}
	return nil
}

type greetOutput struct {
	Greeting *string  `query:"Greeting"`
	Caller   *string  `query:"Caller"`
	Region   *string  `query:"Region"`
	Tags     []string `query:"Tags"`
}

func greet(ctx context.Context, in *greetInput) (*greetOutput, error) {
	p, _ := PrincipalFrom(ctx)
	region, _ := RegionFrom(ctx)
	return &greetOutput{Greeting: aws.String(fmt.Sprintf("hello %s x%d", aws.ToString(in.Name), aws.ToInt32(in.Count))),
		Caller: aws.String(p.ARN), Region: aws.String(region), Tags: in.Tags}, nil
}

// addQueryServices registers two awsQuery services with the same Version,
// told apart by the SigV4 scope's service, as several could share one.
func addQueryServices(s *Server) {
	for _, name := range []string{"berthq", "otherq"} {
		s.Register(Service{
			SigningName: name,
			Query:       &QueryProtocol{Version: queryVersion, XMLNamespace: queryNS, ResultWrappers: map[string]string{"Greet": "GreetResult"}},
			Operations: map[string]Operation{
				"Greet":  Op(greet, nil),
				"Forget": Op(func(context.Context, *struct{}) (*struct{}, error) { return nil, nil }, nil),
				"Fail":   Unsupported(errors.New("etcd: secret-internal-detail")),
				"Later":  Unsupported(awserr.Newf(awserr.CodeInvalidAction, "Berth does not implement Later yet.")),
			},
		})
	}
}

type queryReq struct {
	method  string // POST (form body) or GET (presigned query)
	form    string
	service string // signing name; "" = berthq
	secret  string
	unsign  bool
}

func (q queryReq) build(t *testing.T) *http.Request {
	t.Helper()
	service := q.service
	if service == "" {
		service = "berthq"
	}
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if q.secret != "" {
		creds.SecretAccessKey = q.secret
	}
	var req *http.Request
	if q.method == http.MethodGet {
		req = httptest.NewRequest(http.MethodGet, "http://berth.local/?"+q.form, nil)
		if !q.unsign {
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, sha(nil), service, testRegion, t0)
			if err != nil {
				t.Fatal(err)
			}
			req = httptest.NewRequest(http.MethodGet, u, nil)
		}
		return req
	}
	req = httptest.NewRequest(http.MethodPost, "http://berth.local/", strings.NewReader(q.form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if !q.unsign {
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha([]byte(q.form)), service, testRegion, t0); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// queryError is the awsQuery error envelope.
type queryError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	NS        string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func TestQuery(t *testing.T) {
	const greetForm = "Action=Greet&Version=" + queryVersion + "&Name=web+%26+api&Count=2&Tags.member.1=a&Tags.member.2=b"
	tests := []struct {
		name       string
		req        queryReq
		wantStatus int
		wantBody   string // exact, with RID for the request id
		wantCode   string
		wantNS     string
		wantMsg    string
		wantLog    string
	}{
		{name: "form POST", req: queryReq{form: greetForm}, wantStatus: 200,
			wantBody: `<?xml version="1.0" encoding="UTF-8"?><GreetResponse xmlns="` + queryNS + `"><GreetResult>` +
				`<Greeting>hello web &amp; api x2</Greeting><Caller>alice</Caller><Region>us-east-1</Region>` +
				`<Tags><member>a</member><member>b</member></Tags></GreetResult>` +
				`<ResponseMetadata><RequestId>RID</RequestId></ResponseMetadata></GreetResponse>`},
		{name: "presigned GET", req: queryReq{method: http.MethodGet, form: "Action=Greet&Version=" + queryVersion + "&Name=g"},
			wantStatus: 200, wantMsg: "<Greeting>hello g x0</Greeting>"},
		{name: "no result wrapper", req: queryReq{form: "Action=Forget&Version=" + queryVersion}, wantStatus: 200,
			wantBody: `<?xml version="1.0" encoding="UTF-8"?><ForgetResponse xmlns="` + queryNS + `">` +
				`<ResponseMetadata><RequestId>RID</RequestId></ResponseMetadata></ForgetResponse>`},
		{name: "the other service by scope", req: queryReq{form: greetForm, service: "otherq"}, wantStatus: 200},
		{name: "unknown action", req: queryReq{form: "Action=Nope&Version=" + queryVersion}, wantStatus: 400,
			wantCode: awserr.CodeInvalidAction, wantNS: queryNS, wantMsg: "Could not find operation Nope for version " + queryVersion},
		{name: "missing version", req: queryReq{form: "Action=Greet"}, wantStatus: 400,
			wantCode: awserr.CodeInvalidAction, wantNS: queryNS, wantMsg: "Could not find operation Greet for version NO_VERSION_SPECIFIED"},
		{name: "other version", req: queryReq{form: "Action=Greet&Version=2099-01-01"}, wantStatus: 400,
			wantCode: awserr.CodeInvalidAction, wantMsg: "for version 2099-01-01"},
		{name: "missing action", req: queryReq{form: "Version=" + queryVersion}, wantStatus: 400,
			wantCode: awserr.CodeMissingAction},
		{name: "not implemented", req: queryReq{form: "Action=Later&Version=" + queryVersion}, wantStatus: 400,
			wantCode: awserr.CodeInvalidAction, wantMsg: "Berth does not implement Later yet."},
		{name: "unsigned", req: queryReq{form: greetForm, unsign: true}, wantStatus: 403,
			wantCode: awserr.CodeQueryMissingAuthToken, wantNS: queryNS},
		{name: "unsigned checked before unknown action", req: queryReq{form: "Action=Nope&Version=" + queryVersion, unsign: true},
			wantStatus: 403, wantCode: awserr.CodeQueryMissingAuthToken},
		{name: "wrong secret", req: queryReq{form: greetForm, secret: "nope"}, wantStatus: 403,
			wantCode: awserr.CodeQuerySignatureMismatch, wantMsg: "does not match"},
		{name: "bad integer", req: queryReq{form: "Action=Greet&Version=" + queryVersion + "&Count=two"}, wantStatus: 400,
			wantCode: awserr.CodeQueryValidation, wantMsg: "Value 'two' at 'Count' failed to satisfy constraint: Member must be an integer"},
		{name: "validation", req: queryReq{form: "Action=Greet&Version=" + queryVersion + "&Name=bad"}, wantStatus: 400,
			wantCode: awserr.CodeQueryValidation, wantMsg: "at 'name'"},
		{name: "internal error", req: queryReq{form: "Action=Fail&Version=" + queryVersion}, wantStatus: 500,
			wantCode: awserr.CodeInternalFailure, wantMsg: awserr.InternalMessage, wantLog: "secret-internal-detail"},
		{name: "no service for the version", req: queryReq{form: "Action=Greet&Version=1999-01-01", unsign: true},
			wantStatus: 400, wantCode: awserr.CodeInvalidAction, wantMsg: "for version 1999-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := testServer(t, 1<<10)
			addQueryServices(s)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, tt.req.build(t))
			body, _ := io.ReadAll(rec.Result().Body)
			rid := rec.Header().Get(awserr.HeaderRequestID)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.wantStatus, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/xml" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			if tt.wantCode == "" {
				if tt.wantBody != "" && string(body) != strings.Replace(tt.wantBody, "RID", rid, 1) {
					t.Fatalf("body =\n%s\nwant\n%s", body, tt.wantBody)
				}
				if !strings.Contains(string(body), tt.wantMsg) {
					t.Fatalf("body %s lacks %q", body, tt.wantMsg)
				}
				return
			}
			var e queryError
			if err := xml.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			wantType := map[bool]string{true: "Receiver", false: "Sender"}[tt.wantStatus >= 500]
			if e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) || e.Type != wantType || e.RequestID != rid {
				t.Fatalf("error = %+v, want %s %s containing %q", e, wantType, tt.wantCode, tt.wantMsg)
			}
			if tt.wantNS != "" && e.NS != tt.wantNS {
				t.Errorf("xmlns = %q, want %q", e.NS, tt.wantNS)
			}
			if strings.Contains(string(body), "secret") {
				t.Errorf("internal detail leaked: %s", body)
			}
		})
	}
}
