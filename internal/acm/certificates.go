package acm

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/acmtypes"
	"github.com/berth-dev/berth/internal/store"
)

// ErrNotFound is what Certificate returns (wrapped) for an ARN that names
// no certificate.
var ErrNotFound = errors.New("certificate not found")

// ImportCertificate imports a certificate, its private key and chain, or
// with CertificateArn replaces the material of one imported before (its
// ARN, tags and creation time stay).
func (s *Service) ImportCertificate(ctx context.Context, in *acmtypes.ImportCertificateRequest) (*acmtypes.ImportCertificateResponse, error) {
	region, err := s.region(ctx)
	if err != nil {
		return nil, err
	}
	if in.Certificate == nil || in.PrivateKey == nil {
		return nil, validation("The certificate and its private key are required.")
	}
	var chain []byte
	if in.CertificateChain != nil {
		chain = *in.CertificateChain
	}
	m, err := parseMaterial(*in.Certificate, *in.PrivateKey, chain)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	now := s.now()
	rec := certRecord{Certificate: m.certPEM, Chain: m.chainPEM, PrivateKey: m.keyPEM, ImportedAt: now, CreatedAt: now, Tags: in.Tags}

	if in.CertificateArn == nil {
		id := newUUID()
		rec.ARN = s.certificateARN(region, id)
		err := s.acct.Update(ctx, func(tx *store.Tx) error {
			store.Put(tx, certificates, region+"/"+id, rec)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("import certificate: %w", err)
		}
		return &acmtypes.ImportCertificateResponse{CertificateArn: aws.String(rec.ARN)}, nil
	}

	if len(in.Tags) > 0 {
		return nil, validation("You cannot apply tags when reimporting a certificate.")
	}
	rec.ARN = aws.ToString(in.CertificateArn)
	_, err = s.update(ctx, rec.ARN, func(old *certRecord) error {
		rec.CreatedAt, rec.Tags = old.CreatedAt, old.Tags
		*old = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &acmtypes.ImportCertificateResponse{CertificateArn: aws.String(rec.ARN)}, nil
}

// DescribeCertificate describes a certificate.
func (s *Service) DescribeCertificate(ctx context.Context, in *acmtypes.DescribeCertificateRequest) (*acmtypes.DescribeCertificateResponse, error) {
	rec, err := s.view(ctx, aws.ToString(in.CertificateArn))
	if err != nil {
		return nil, err
	}
	d, err := s.detail(rec)
	if err != nil {
		return nil, err
	}
	return &acmtypes.DescribeCertificateResponse{Certificate: d}, nil
}

// GetCertificate returns a certificate and its chain as PEM; never the key.
func (s *Service) GetCertificate(ctx context.Context, in *acmtypes.GetCertificateRequest) (*acmtypes.GetCertificateResponse, error) {
	rec, err := s.view(ctx, aws.ToString(in.CertificateArn))
	if err != nil {
		return nil, err
	}
	out := &acmtypes.GetCertificateResponse{Certificate: aws.String(rec.Certificate)}
	if rec.Chain != "" {
		out.CertificateChain = aws.String(rec.Chain)
	}
	return out, nil
}

// DeleteCertificate deletes a certificate.
func (s *Service) DeleteCertificate(ctx context.Context, in *acmtypes.DeleteCertificateRequest) (*struct{}, error) {
	arn := aws.ToString(in.CertificateArn)
	id, err := s.requestID(ctx, arn)
	if err != nil {
		return nil, err
	}
	err = s.acct.Update(ctx, func(tx *store.Tx) error {
		if _, err := get(tx, id, arn); err != nil {
			return err
		}
		store.Delete(tx, certificates, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &struct{}{}, nil
}

// Page sizes of ListCertificates.
const (
	defaultListItems = 1000
	sortByCreatedAt  = "CREATED_AT"
)

// defaultKeyTypes are the key types ListCertificates includes unless
// Includes.keyTypes says otherwise, as in AWS.
var defaultKeyTypes = []string{acmtypes.KeyAlgorithmRSA1024, acmtypes.KeyAlgorithmRSA2048}

// ListCertificates lists the region's certificates that pass the filters:
// by status, and (Includes) by key type (RSA_1024 and RSA_2048 unless
// named, as in AWS), key usage and extended key usage. Pages follow the
// id, or the creation time with SortBy CREATED_AT.
func (s *Service) ListCertificates(ctx context.Context, in *acmtypes.ListCertificatesRequest) (*acmtypes.ListCertificatesResponse, error) {
	region, err := s.region(ctx)
	if err != nil {
		return nil, err
	}
	limit := defaultListItems
	if in.MaxItems != nil && *in.MaxItems > 0 {
		limit = int(*in.MaxItems)
	}
	var after string
	if tok := aws.ToString(in.NextToken); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) == 0 {
			return nil, awsInvalidToken()
		}
		after = string(b)
	}
	byCreated := aws.ToString(in.SortBy) == sortByCreatedAt
	desc := aws.ToString(in.SortOrder) == "DESCENDING"

	type entry struct {
		key string
		sum acmtypes.CertificateSummary
	}
	var entries []entry
	err = s.acct.View(ctx, func(tx *store.Tx) error {
		entries = entries[:0]
		return store.Scan(tx, certificates, region+"/", "", false, func(id string, rec certRecord) (bool, error) {
			info, err := s.info(rec)
			if err != nil {
				s.log.Warn("skipping a certificate that does not parse", "arn", rec.ARN, "err", err)
				return true, nil
			}
			if !included(in, info) {
				return true, nil
			}
			key := id
			if byCreated {
				key = fmt.Sprintf("%020d/%s", rec.CreatedAt.UnixNano(), id)
			}
			entries = append(entries, entry{key, s.summary(rec, info)})
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if desc {
			return cmp.Compare(b.key, a.key)
		}
		return cmp.Compare(a.key, b.key)
	})
	out := &acmtypes.ListCertificatesResponse{CertificateSummaryList: []acmtypes.CertificateSummary{}}
	for _, e := range entries {
		if after != "" && ((!desc && e.key <= after) || (desc && e.key >= after)) {
			continue
		}
		if len(out.CertificateSummaryList) == limit {
			last := base64.RawURLEncoding.EncodeToString([]byte(after))
			out.NextToken = &last
			break
		}
		out.CertificateSummaryList = append(out.CertificateSummaryList, e.sum)
		after = e.key
	}
	return out, nil
}

// included reports whether a certificate passes ListCertificates' filters.
func included(in *acmtypes.ListCertificatesRequest, info *certInfo) bool {
	if len(in.CertificateStatuses) > 0 && !slices.Contains(in.CertificateStatuses, info.status) {
		return false
	}
	keyTypes := defaultKeyTypes
	inc := in.Includes
	if inc != nil && len(inc.KeyTypes) > 0 {
		keyTypes = inc.KeyTypes
	}
	if !slices.Contains(keyTypes, info.keyAlgorithm) {
		return false
	}
	if inc == nil {
		return true
	}
	// Berth manages no certificate and exports none.
	if inc.ManagedBy != nil || aws.ToString(inc.ExportOption) == "ENABLED" {
		return false
	}
	if len(inc.KeyUsage) > 0 && !anyOf(inc.KeyUsage, keyUsages(info.leaf.KeyUsage)) {
		return false
	}
	if len(inc.ExtendedKeyUsage) > 0 {
		var have []string
		for _, u := range info.leaf.ExtKeyUsage {
			name, _ := extKeyUsage(u)
			have = append(have, name)
		}
		if !anyOf(inc.ExtendedKeyUsage, have) {
			return false
		}
	}
	return true
}

func anyOf(want, have []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

func awsInvalidToken() error {
	return awserr.Newf(acmtypes.ErrCodeInvalidArgsException, "The nextToken is not valid.")
}

// Certificate returns the certificate arn names, with its chain and key,
// ready to serve TLS: the ELB data plane's certificate source. The ARN's
// region is the one looked in.
func (s *Service) Certificate(ctx context.Context, arn string) (tls.Certificate, error) {
	id, _, err := s.parseARN(arn)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: %w", arn, err)
	}
	var rec certRecord
	err = s.acct.View(ctx, func(tx *store.Tx) error {
		rec, err = store.Get(tx, certificates, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return tls.Certificate{}, fmt.Errorf("certificate %s: %w", arn, ErrNotFound)
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("get certificate %s: %w", arn, err)
	}
	pair, err := tls.X509KeyPair([]byte(rec.Certificate+rec.Chain), []byte(rec.PrivateKey))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: load key pair: %w", arn, err)
	}
	return pair, nil
}

// requestID is the store id of a certificate ARN named in a request: not
// found when the ARN is of another region than the request's.
func (s *Service) requestID(ctx context.Context, arn string) (string, error) {
	region, err := s.region(ctx)
	if err != nil {
		return "", err
	}
	id, arnRegion, err := s.parseARN(arn)
	if err != nil {
		return "", err
	}
	if arnRegion != region {
		return "", notFound(arn)
	}
	return id, nil
}

func get(tx *store.Tx, id, arn string) (certRecord, error) {
	rec, err := store.Get(tx, certificates, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, notFound(arn)
	}
	if err != nil {
		return rec, fmt.Errorf("get certificate %s: %w", arn, err)
	}
	return rec, nil
}

// view reads the certificate a request's ARN names.
func (s *Service) view(ctx context.Context, arn string) (certRecord, error) {
	id, err := s.requestID(ctx, arn)
	if err != nil {
		return certRecord{}, err
	}
	var rec certRecord
	err = s.acct.View(ctx, func(tx *store.Tx) error {
		rec, err = get(tx, id, arn)
		return err
	})
	return rec, err
}

// update changes the certificate a request's ARN names with fn.
func (s *Service) update(ctx context.Context, arn string, fn func(*certRecord) error) (certRecord, error) {
	id, err := s.requestID(ctx, arn)
	if err != nil {
		return certRecord{}, err
	}
	var rec certRecord
	err = s.acct.Update(ctx, func(tx *store.Tx) error {
		rec, err = get(tx, id, arn)
		if err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		store.Put(tx, certificates, id, rec)
		return nil
	})
	return rec, err
}
