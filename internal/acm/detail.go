package acm

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/gen/acmtypes"
)

// certInfo is what DescribeCertificate and ListCertificates say of a
// stored certificate, read from its PEM.
type certInfo struct {
	leaf         *x509.Certificate
	domain       string
	sans         []string
	keyAlgorithm string
	status       string
}

func (s *Service) info(rec certRecord) (*certInfo, error) {
	certs, err := parseCerts([]byte(rec.Certificate))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("stored certificate %s does not parse: %v", rec.ARN, err)
	}
	leaf := certs[0]
	alg, _ := keyAlgorithm(leaf.PublicKey)
	in := &certInfo{leaf: leaf, keyAlgorithm: alg, status: acmtypes.CertificateStatusISSUED}
	if s.now().After(leaf.NotAfter) {
		in.status = acmtypes.CertificateStatusEXPIRED
	}
	// ACM's domain is the subject's common name, else the first name;
	// the alternative names always include it.
	in.domain = leaf.Subject.CommonName
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if in.domain == "" && len(names) > 0 {
		in.domain = names[0]
	}
	if in.domain != "" && !slices.Contains(names, in.domain) {
		names = append([]string{in.domain}, names...)
	}
	in.sans = names
	return in, nil
}

// detail is DescribeCertificate's answer for rec.
func (s *Service) detail(rec certRecord) (*acmtypes.CertificateDetail, error) {
	in, err := s.info(rec)
	if err != nil {
		return nil, err
	}
	leaf := in.leaf
	d := &acmtypes.CertificateDetail{
		CertificateArn:          aws.String(rec.ARN),
		DomainName:              aws.String(in.domain),
		SubjectAlternativeNames: in.sans,
		Subject:                 aws.String(leaf.Subject.String()),
		Issuer:                  aws.String(issuerName(leaf)),
		Serial:                  aws.String(serial(leaf)),
		SignatureAlgorithm:      aws.String(signatureAlgorithm(leaf.SignatureAlgorithm)),
		Status:                  aws.String(in.status),
		Type:                    aws.String(acmtypes.CertificateTypeIMPORTED),
		NotBefore:               acmtypes.Time(leaf.NotBefore.UTC()),
		NotAfter:                acmtypes.Time(leaf.NotAfter.UTC()),
		ImportedAt:              acmtypes.Time(rec.ImportedAt),
		// Nothing tracks which listeners use a certificate yet.
		InUseBy:            []string{},
		RenewalEligibility: aws.String(acmtypes.RenewalEligibilityINELIGIBLE),
		KeyUsages:          []acmtypes.KeyUsage{},
		ExtendedKeyUsages:  []acmtypes.ExtendedKeyUsage{},
		Options:            &acmtypes.CertificateOptions{CertificateTransparencyLoggingPreference: aws.String("DISABLED")},
	}
	if in.keyAlgorithm != "" {
		d.KeyAlgorithm = aws.String(in.keyAlgorithm)
	}
	for _, u := range keyUsages(leaf.KeyUsage) {
		d.KeyUsages = append(d.KeyUsages, acmtypes.KeyUsage{Name: aws.String(u)})
	}
	for _, u := range leaf.ExtKeyUsage {
		name, oid := extKeyUsage(u)
		d.ExtendedKeyUsages = append(d.ExtendedKeyUsages, acmtypes.ExtendedKeyUsage{Name: aws.String(name), OID: aws.String(oid)})
	}
	return d, nil
}

// summary is ListCertificates' entry for rec.
func (s *Service) summary(rec certRecord, in *certInfo) acmtypes.CertificateSummary {
	sum := acmtypes.CertificateSummary{
		CertificateArn:                       aws.String(rec.ARN),
		DomainName:                           aws.String(in.domain),
		SubjectAlternativeNameSummaries:      in.sans,
		HasAdditionalSubjectAlternativeNames: aws.Bool(false),
		Status:                               aws.String(in.status),
		Type:                                 aws.String(acmtypes.CertificateTypeIMPORTED),
		InUse:                                aws.Bool(false),
		Exported:                             aws.Bool(false),
		RenewalEligibility:                   aws.String(acmtypes.RenewalEligibilityINELIGIBLE),
		NotBefore:                            acmtypes.Time(in.leaf.NotBefore.UTC()),
		NotAfter:                             acmtypes.Time(in.leaf.NotAfter.UTC()),
		ImportedAt:                           acmtypes.Time(rec.ImportedAt),
		KeyUsages:                            keyUsages(in.leaf.KeyUsage),
		ExtendedKeyUsages:                    []string{},
	}
	if in.keyAlgorithm != "" {
		sum.KeyAlgorithm = aws.String(in.keyAlgorithm)
	}
	for _, u := range in.leaf.ExtKeyUsage {
		name, _ := extKeyUsage(u)
		sum.ExtendedKeyUsages = append(sum.ExtendedKeyUsages, name)
	}
	return sum
}

// issuerName is how ACM names an issuer: its organization, else its
// common name.
func issuerName(c *x509.Certificate) string {
	if len(c.Issuer.Organization) > 0 {
		return c.Issuer.Organization[0]
	}
	return c.Issuer.CommonName
}

// serial is the serial number as ACM prints it: hex bytes joined by ':'.
func serial(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	parts := make([]string, len(b))
	for i := range b {
		parts[i] = hex.EncodeToString(b[i : i+1])
	}
	return strings.Join(parts, ":")
}

// signatureAlgorithm is ACM's name of a signature algorithm
// ("SHA256WITHRSA", "SHA256WITHECDSA").
func signatureAlgorithm(a x509.SignatureAlgorithm) string {
	switch a {
	case x509.SHA1WithRSA:
		return "SHA1WITHRSA"
	case x509.SHA256WithRSA:
		return "SHA256WITHRSA"
	case x509.SHA384WithRSA:
		return "SHA384WITHRSA"
	case x509.SHA512WithRSA:
		return "SHA512WITHRSA"
	case x509.SHA256WithRSAPSS:
		return "SHA256WITHRSAANDMGF1"
	case x509.SHA384WithRSAPSS:
		return "SHA384WITHRSAANDMGF1"
	case x509.SHA512WithRSAPSS:
		return "SHA512WITHRSAANDMGF1"
	case x509.ECDSAWithSHA1:
		return "SHA1WITHECDSA"
	case x509.ECDSAWithSHA256:
		return "SHA256WITHECDSA"
	case x509.ECDSAWithSHA384:
		return "SHA384WITHECDSA"
	case x509.ECDSAWithSHA512:
		return "SHA512WITHECDSA"
	case x509.PureEd25519:
		return "ED25519"
	}
	return strings.ToUpper(a.String())
}

func keyUsages(ku x509.KeyUsage) []string {
	names := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, acmtypes.KeyUsageNameDIGITALSIGNATURE},
		{x509.KeyUsageContentCommitment, acmtypes.KeyUsageNameNONREPUDIATION},
		{x509.KeyUsageKeyEncipherment, acmtypes.KeyUsageNameKEYENCIPHERMENT},
		{x509.KeyUsageDataEncipherment, acmtypes.KeyUsageNameDATAENCIPHERMENT},
		{x509.KeyUsageKeyAgreement, acmtypes.KeyUsageNameKEYAGREEMENT},
		{x509.KeyUsageCertSign, acmtypes.KeyUsageNameCERTIFICATESIGNING},
		{x509.KeyUsageCRLSign, acmtypes.KeyUsageNameCRLSIGNING},
		{x509.KeyUsageEncipherOnly, acmtypes.KeyUsageNameENCIPHERONLY},
		{x509.KeyUsageDecipherOnly, acmtypes.KeyUsageNameDECIPHERONLY},
	}
	out := []string{}
	for _, n := range names {
		if ku&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func extKeyUsage(u x509.ExtKeyUsage) (name, oid string) {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return acmtypes.ExtendedKeyUsageNameTLSWEBSERVERAUTHENTICATION, "1.3.6.1.5.5.7.3.1"
	case x509.ExtKeyUsageClientAuth:
		return acmtypes.ExtendedKeyUsageNameTLSWEBCLIENTAUTHENTICATION, "1.3.6.1.5.5.7.3.2"
	case x509.ExtKeyUsageCodeSigning:
		return acmtypes.ExtendedKeyUsageNameCODESIGNING, "1.3.6.1.5.5.7.3.3"
	case x509.ExtKeyUsageEmailProtection:
		return acmtypes.ExtendedKeyUsageNameEMAILPROTECTION, "1.3.6.1.5.5.7.3.4"
	case x509.ExtKeyUsageIPSECEndSystem:
		return acmtypes.ExtendedKeyUsageNameIPSECENDSYSTEM, "1.3.6.1.5.5.7.3.5"
	case x509.ExtKeyUsageIPSECTunnel:
		return acmtypes.ExtendedKeyUsageNameIPSECTUNNEL, "1.3.6.1.5.5.7.3.6"
	case x509.ExtKeyUsageIPSECUser:
		return acmtypes.ExtendedKeyUsageNameIPSECUSER, "1.3.6.1.5.5.7.3.7"
	case x509.ExtKeyUsageTimeStamping:
		return acmtypes.ExtendedKeyUsageNameTIMESTAMPING, "1.3.6.1.5.5.7.3.8"
	case x509.ExtKeyUsageOCSPSigning:
		return acmtypes.ExtendedKeyUsageNameOCSPSIGNING, "1.3.6.1.5.5.7.3.9"
	case x509.ExtKeyUsageAny:
		return acmtypes.ExtendedKeyUsageNameANY, "2.5.29.37.0"
	}
	return acmtypes.ExtendedKeyUsageNameCUSTOM, ""
}
