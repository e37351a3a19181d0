package acm

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"time"

	"github.com/berth-dev/berth/internal/api/gen/acmtypes"
	"github.com/berth-dev/berth/internal/store"
)

// certRecord is an imported certificate as stored, id "<region>/<uuid>".
// Only what was imported is kept: everything DescribeCertificate says of
// the certificate is read from the PEM when asked, so the two never
// disagree.
type certRecord struct {
	ARN string `json:"arn"`
	// Certificate, Chain and PrivateKey are PEM, as imported (Chain ""
	// when none was).
	Certificate string `json:"certificate"`
	Chain       string `json:"chain,omitempty"`
	PrivateKey  string `json:"privateKey"`
	// ImportedAt is the last import; CreatedAt the first.
	ImportedAt time.Time      `json:"importedAt"`
	CreatedAt  time.Time      `json:"createdAt"`
	Tags       []acmtypes.Tag `json:"tags,omitempty"`
}

var certificates = store.NewCollection[certRecord]("acm/certificates")

// certificateARN is the ARN of certificate id in region.
func (s *Service) certificateARN(region, id string) string {
	return "arn:aws:acm:" + region + ":" + s.cfg.AccountID + ":certificate/" + id
}

// arnPattern matches a certificate ARN: partition, region, account, uuid.
var arnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):([0-9]{12}):certificate/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// parseARN returns the store id ("<region>/<uuid>") and region of a
// certificate ARN. An ARN that is no certificate's is InvalidArnException;
// one of another account is not found.
func (s *Service) parseARN(arn string) (id, region string, err error) {
	m := arnPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", "", invalidARN(arn)
	}
	if m[2] != s.cfg.AccountID {
		return "", "", notFound(arn)
	}
	return m[1] + "/" + m[3], m[1], nil
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
