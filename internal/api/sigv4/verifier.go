// Package sigv4 owns AWS Signature Version 4 verification for Berth's API:
// it recomputes the canonical request from what the client says it signed,
// checks the credential scope and clock, and compares signatures in
// constant time. Signing is left to the AWS SDKs; only verification lives
// here.
package sigv4

import (
	"crypto/subtle"

	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api/awserr"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateLayout   = "20060102T150405Z"
	terminator      = "aws4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// DefaultMaxSkew is how far the request time may be from the server
	// clock, as AWS enforces.
	DefaultMaxSkew = 5 * time.Minute
	// maxPresignExpiry is AWS's cap on X-Amz-Expires (seven days).
	maxPresignExpiry = 7 * 24 * time.Hour
)

// Credential is a known access key, its secret and the principal (user or
// role name, ARN, ...) that requests signed with it act as. Temporary
// credentials also name the session token a request must carry
// (X-Amz-Security-Token) and when they expire.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	Principal       string
	// SessionToken, when set, must be the request's X-Amz-Security-Token.
	SessionToken string
	// Expiration, when set, is when the credential stops being accepted.
	Expiration time.Time
}

// Verified is what a successful verification established: the credential
// and the region and service of the request's credential scope.
type Verified struct {
	Credential Credential
	Region     string
	Service    string
}

// Verifier checks SigV4-signed requests. The zero MaxSkew means
// DefaultMaxSkew and a nil Now means time.Now. Regions, when set, decides
// which credential-scope regions are accepted; otherwise a non-empty Region
// is the only one, and with neither any region is.
type Verifier struct {
	Lookup  func(accessKeyID string) (Credential, bool)
	Region  string
	Regions func(region string) bool
	Now     func() time.Time
	MaxSkew time.Duration
	Flavor  Flavor
}

// authParams is what the client claims about its signature, from either the
// Authorization header or the presigned query.
type authParams struct {
	presigned        bool
	credential       string // raw "AKID/date/region/service/aws4_request"
	accessKeyID      string
	scopeDate        string
	region           string
	service          string
	terminator       string
	signedHeadersRaw string
	signedHeaders    []string
	signature        string
	amzDate          string
	time             time.Time
	expires          time.Duration // presigned only; 0 when absent
	query            url.Values    // canonical query input
}

// Verify authenticates r, whose body has already been read into body,
// against service (the SigV4 signing name, e.g. "ecs"). It returns the
// matching Credential, or an *awserr.Error naming the failure the way AWS
// does.
func (v *Verifier) Verify(r *http.Request, body []byte, service string) (Credential, error) {
	res, err := v.Check(r, body, service)
	return res.Credential, err
}

// Check is Verify returning the credential scope's region too.
func (v *Verifier) Check(r *http.Request, body []byte, service string) (Verified, error) {
	p, cred, aerr := v.prepare(r, service)
	if aerr != nil {
		return Verified{}, aerr
	}
	hashes, aerr := v.payloadHashes(r, p, body)
	if aerr != nil {
		return Verified{}, aerr
	}
	if aerr := v.checkSignature(r, p, cred, hashes); aerr != nil {
		return Verified{}, aerr
	}
	return Verified{Credential: cred, Region: p.region, Service: p.service}, nil
}

// prepare parses the claimed signature and checks everything but the
// signature itself: the key, session token, scope and clock.
func (v *Verifier) prepare(r *http.Request, service string) (*authParams, Credential, *awserr.Error) {
	p, aerr := v.parse(r)
	if aerr != nil {
		return nil, Credential{}, aerr
	}
	var cred Credential
	ok := false
	if v.Lookup != nil {
		cred, ok = v.Lookup(p.accessKeyID)
	}
	// An empty secret would make signatures forgeable by anyone who knows
	// the key ID, so such a credential counts as unknown.
	if !ok || cred.SecretAccessKey == "" {
		return nil, Credential{}, v.fail(failUnknownKey, msgUnknownKey)
	}
	if cred.AccessKeyID == "" {
		cred.AccessKeyID = p.accessKeyID
	}
	if aerr := v.checkToken(r, p, cred); aerr != nil {
		return nil, Credential{}, aerr
	}
	if aerr := v.checkScope(p, service); aerr != nil {
		return nil, Credential{}, aerr
	}
	if aerr := v.checkTime(p); aerr != nil {
		return nil, Credential{}, aerr
	}
	return p, cred, nil
}

// checkSignature recomputes the signature for each payload hash the client
// may have signed with and compares them in constant time.
func (v *Verifier) checkSignature(r *http.Request, p *authParams, cred Credential, hashes []string) *awserr.Error {
	scope := strings.Join([]string{p.scopeDate, p.region, p.service, p.terminator}, "/")
	matched := 0
	for _, h := range hashes {
		canonical := canonicalRequest(r, p.query, p.signedHeaders, p.signedHeadersRaw, h)
		want := signature(cred.SecretAccessKey, p.scopeDate, p.region, p.service, stringToSign(p.amzDate, scope, canonical))
		// Every candidate is compared so timing does not reveal which one matched.
		matched |= subtle.ConstantTimeCompare([]byte(want), []byte(p.signature))
	}
	if matched != 1 {
		return v.fail(failSignature, msgMismatch)
	}
	return nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// parse extracts the claimed signature from the request, rejecting requests
// without one or with an incomplete one.
func (v *Verifier) parse(r *http.Request) (*authParams, *awserr.Error) {
	query := r.URL.Query()
	header := r.Header.Get("Authorization")
	inQuery := query.Has("X-Amz-Algorithm") || query.Has("X-Amz-Signature") || query.Has("X-Amz-Credential")
	switch {
	case header != "" && inQuery:
		return nil, v.fail(failIncomplete, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "+
			"or the Authorization header should be specified")
	case header != "":
		return v.parseHeader(r, header, query)
	case inQuery:
		return v.parseQuery(query)
	default:
		return nil, v.fail(failMissing, msgMissing)
	}
}

func (v *Verifier) parseHeader(r *http.Request, header string, query url.Values) (*authParams, *awserr.Error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != algorithm {
		return nil, v.fail(failIncomplete, "Unsupported AWS 'algorithm': '%s'. Authorization=%s", alg, header)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, v.fail(failIncomplete, "Authorization header requires each component to be of the form key=value, "+
				"got '%s'. Authorization=%s", strings.TrimSpace(part), header)
		}
		fields[k] = val
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		missing = append(missing, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	if len(missing) > 0 {
		return nil, v.fail(failIncomplete, "%s Authorization=%s", strings.Join(missing, " "), header)
	}
	p := &authParams{signature: fields["Signature"], amzDate: amzDate, query: query}
	if aerr := v.fillCommon(p, fields["Credential"], fields["SignedHeaders"]); aerr != nil {
		return nil, aerr
	}
	if !slices.Contains(p.signedHeaders, "x-amz-date") {
		return nil, v.fail(failIncomplete, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return p, nil
}

func (v *Verifier) parseQuery(query url.Values) (*authParams, *awserr.Error) {
	if alg := query.Get("X-Amz-Algorithm"); alg != algorithm {
		return nil, v.fail(failIncomplete, "Unsupported AWS 'algorithm': '%s'.", alg)
	}
	var missing []string
	for _, k := range []string{"X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if query.Get(k) == "" {
			missing = append(missing, "AWS query-string parameters must include '"+k+"'.")
		}
	}
	if len(missing) > 0 {
		return nil, v.fail(failIncomplete, "%s Re-examine the query-string parameters.", strings.Join(missing, " "))
	}
	p := &authParams{presigned: true, signature: query.Get("X-Amz-Signature"), amzDate: query.Get("X-Amz-Date")}
	if raw := query.Get("X-Amz-Expires"); raw != "" {
		secs, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || secs <= 0 || time.Duration(secs)*time.Second > maxPresignExpiry {
			return nil, v.fail(failIncomplete, "X-Amz-Expires must be an integer between 1 and %d seconds, got '%s'.",
				int64(maxPresignExpiry/time.Second), raw)
		}
		p.expires = time.Duration(secs) * time.Second
	}
	// The signature covers every query parameter except itself.
	p.query = make(url.Values, len(query))
	for k, vs := range query {
		if k != "X-Amz-Signature" {
			p.query[k] = vs
		}
	}
	if aerr := v.fillCommon(p, query.Get("X-Amz-Credential"), query.Get("X-Amz-SignedHeaders")); aerr != nil {
		return nil, aerr
	}
	return p, nil
}

// fillCommon parses the credential, signed headers and date shared by both
// forms.
func (v *Verifier) fillCommon(p *authParams, credential, signedHeaders string) *awserr.Error {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" {
		return v.fail(failIncomplete, "Credential must have exactly 5 slash-delimited elements, "+
			"e.g. keyid/date/region/service/term, got '%s'", credential)
	}
	p.credential = credential
	p.accessKeyID, p.scopeDate, p.region, p.service, p.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]

	p.signedHeadersRaw = signedHeaders
	for _, h := range strings.Split(signedHeaders, ";") {
		if h == "" {
			return v.fail(failIncomplete, "SignedHeaders contains an empty header name: '%s'", signedHeaders)
		}
		p.signedHeaders = append(p.signedHeaders, strings.ToLower(h))
	}
	if !slices.Contains(p.signedHeaders, "host") {
		return v.fail(failIncomplete, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}

	t, err := time.Parse(amzDateLayout, p.amzDate)
	if err != nil {
		return v.fail(failIncomplete, "Date must be in ISO-8601 'basic format'. Got '%s'. "+
			"See http://en.wikipedia.org/wiki/ISO_8601", p.amzDate)
	}
	p.time = t
	return nil
}

// checkScope rejects a credential scoped to another service, region, day
// or terminator.
func (v *Verifier) checkScope(p *authParams, service string) *awserr.Error {
	switch {
	case p.terminator != terminator:
		return v.fail(failSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", p.terminator)
	case p.service != service:
		return v.fail(failSignature, "Credential should be scoped to correct service: '%s'. ", service)
	case v.Regions != nil && !v.Regions(p.region):
		return v.fail(failSignature, "Credential should be scoped to a valid region, not '%s'. ", p.region)
	case v.Regions == nil && v.Region != "" && p.region != v.Region:
		return v.fail(failSignature, "Credential should be scoped to a valid region, not '%s'. Expected '%s'.", p.region, v.Region)
	case p.scopeDate != p.amzDate[:8]:
		return v.fail(failSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "+
			"'%s' != '%s', from '%s'.", p.scopeDate, p.amzDate[:8], p.amzDate)
	}
	return nil
}

// checkTime enforces the clock skew window; a presigned request with
// X-Amz-Expires is valid until its own expiry instead.
func (v *Verifier) checkTime(p *authParams) *awserr.Error {
	now := v.now()
	skew := v.maxSkew()
	if late := now.Add(skew); p.time.After(late) {
		return v.fail(failSignature, "Signature not yet current: %s is still later than %s (%s + %s)",
			p.amzDate, late.Format(amzDateLayout), now.Format(amzDateLayout), fmtDuration(skew))
	}
	window := skew
	if p.presigned && p.expires > 0 {
		window = p.expires
	}
	if early := now.Add(-window); p.time.Before(early) {
		return v.fail(failSignature, "Signature expired: %s is now earlier than %s (%s - %s)",
			p.amzDate, early.Format(amzDateLayout), now.Format(amzDateLayout), fmtDuration(window))
	}
	return nil
}

// payloadHashes returns the payload hashes the client may have signed with.
// A declared X-Amz-Content-Sha256 must match the body; UNSIGNED-PAYLOAD is
// only honoured on presigned requests, where it is also tried when nothing
// was declared (S3-style presigners sign it without sending a header).
func (v *Verifier) payloadHashes(r *http.Request, p *authParams, body []byte) ([]string, *awserr.Error) {
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if declared == "" && p.presigned {
		declared = p.query.Get("X-Amz-Content-Sha256")
	}
	actual := hashHex(body)
	switch {
	case declared == unsignedPayload && p.presigned:
		return []string{unsignedPayload}, nil
	case declared == unsignedPayload:
		return nil, v.fail(failSignature, "UNSIGNED-PAYLOAD is only accepted on presigned requests.")
	case declared != "" && !strings.EqualFold(declared, actual):
		return nil, v.fail(failSignature, msgPayloadMismatch)
	case declared != "":
		return []string{declared}, nil
	case p.presigned:
		return []string{actual, unsignedPayload}, nil
	default:
		return []string{actual}, nil
	}
}

func fmtDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec."
}
