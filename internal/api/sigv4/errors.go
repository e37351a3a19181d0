package sigv4

import "github.com/berth-dev/berth/internal/api/awserr"

// Flavor selects how authentication failures are spelled: awsJson services
// and awsQuery services name the same failures differently.
type Flavor int

const (
	// FlavorJSON uses the awsJson names (InvalidSignatureException, ...).
	FlavorJSON Flavor = iota
	// FlavorQuery uses the awsQuery names (SignatureDoesNotMatch, ...).
	FlavorQuery
)

// failure is a protocol-neutral authentication failure kind.
type failure int

const (
	failMissing failure = iota
	failIncomplete
	failSignature
	failUnknownKey
	failExpired
)

// failureCodes maps each failure kind to its code per flavor.
var failureCodes = map[failure][2]string{
	failMissing:    {awserr.CodeMissingAuthToken, awserr.CodeQueryMissingAuthToken},
	failIncomplete: {awserr.CodeIncompleteSignature, awserr.CodeQueryIncompleteSig},
	failSignature:  {awserr.CodeInvalidSignature, awserr.CodeQuerySignatureMismatch},
	failUnknownKey: {awserr.CodeUnrecognizedClient, awserr.CodeQueryInvalidClientToken},
	failExpired:    {awserr.CodeExpiredToken, awserr.CodeQueryExpiredToken},
}

// AWS's wording, which clients and users recognise.
const (
	msgMissing    = "Missing Authentication Token"
	msgUnknownKey = "The security token included in the request is invalid."
	msgExpired    = "The security token included in the request is expired"
	msgMismatch   = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgPayloadMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
)

func (v *Verifier) fail(kind failure, format string, args ...any) *awserr.Error {
	idx := 0
	if v.Flavor == FlavorQuery {
		idx = 1
	}
	return awserr.Newf(failureCodes[kind][idx], format, args...)
}
