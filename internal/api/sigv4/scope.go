package sigv4

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// AnyRegion accepts every region (dev mode).
func AnyRegion(string) bool { return true }

// RegionList accepts exactly the given regions.
func RegionList(regions ...string) func(string) bool {
	set := make(map[string]bool, len(regions))
	for _, r := range regions {
		set[r] = true
	}
	return func(r string) bool { return set[r] }
}

// WithFlavor returns a copy of v whose failures are spelled as f says, for a
// listener that serves awsJson and awsQuery services with one verifier.
func (v *Verifier) WithFlavor(f Flavor) *Verifier {
	c := *v
	c.Flavor = f
	return &c
}

// checkToken holds temporary credentials to their session token: a missing
// or different token is an invalid one, and past its expiry the credential
// is refused as expired. A token sent with a long-term key is ignored, as
// Berth always has (the agents' SDK may send one); only credentials that
// name a token are checked against it.
func (v *Verifier) checkToken(r *http.Request, p *authParams, cred Credential) *awserr.Error {
	if cred.SessionToken == "" {
		return nil
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if p.presigned {
		token = r.URL.Query().Get("X-Amz-Security-Token")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(cred.SessionToken)) != 1 {
		return v.fail(failUnknownKey, msgUnknownKey)
	}
	if !cred.Expiration.IsZero() && !v.now().Before(cred.Expiration) {
		return v.fail(failExpired, msgExpired)
	}
	return nil
}

// PeekScope returns the region and service of the credential scope r
// claims, without verifying anything, so a listener can tell services
// apart before it knows which one will verify the request.
func PeekScope(r *http.Request) (region, service string, ok bool) {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		_, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		for _, part := range strings.Split(rest, ",") {
			if k, val, _ := strings.Cut(strings.TrimSpace(part), "="); k == "Credential" {
				cred = val
			}
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "", "", false
	}
	return parts[2], parts[3], true
}
