package acm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"

	"github.com/berth-dev/berth/internal/api/gen/acmtypes"
)

// material is what ImportCertificate imports, parsed and checked.
type material struct {
	leaf *x509.Certificate
	// certPEM, chainPEM and keyPEM are re-encoded from what was parsed,
	// so what GetCertificate returns is clean PEM whatever the import's
	// whitespace or stray text.
	certPEM, chainPEM, keyPEM string
}

// Messages of ImportCertificate's ValidationExceptions.
const (
	msgCertParse     = "Unable to parse certificate. Please ensure the certificate is in PEM format."
	msgCertMany      = "The certificate field contains more than one certificate. You can specify only one certificate in this field."
	msgChainParse    = "Unable to parse the certificate chain. Please ensure the certificate chain is in PEM format."
	msgChainMismatch = "Could not validate the certificate with the certificate chain."
	msgKeyParse      = "Unable to parse key. Please ensure the private key is in PEM format."
	msgKeyEncrypted  = "Unable to parse key; the body is encrypted."
	msgKeyType       = "The private key is not supported. Only RSA keys of 1024, 2048, 3072 or 4096 bits, EC keys on the P-256, P-384 or P-521 curves and Ed25519 keys are allowed."
	msgKeyMismatch   = "The private key does not match the public key in the certificate."
)

// parseMaterial checks an import: one X.509 certificate, an unencrypted
// private key of a type ACM accepts that matches it, and a chain (optional)
// of certificates whose first signed it.
func parseMaterial(certIn, keyIn, chainIn []byte) (*material, error) {
	certs, err := parseCerts(certIn)
	if err != nil || len(certs) == 0 {
		return nil, validation("%s", msgCertParse)
	}
	if len(certs) > 1 {
		return nil, validation("%s", msgCertMany)
	}
	leaf := certs[0]

	key, keyPEM, err := parseKey(keyIn)
	if err != nil {
		return nil, err
	}
	if _, err := keyAlgorithm(key.Public()); err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, validation("%s", msgKeyMismatch)
	}

	m := &material{leaf: leaf, certPEM: encodeCerts(certs), keyPEM: keyPEM}
	if len(bytes.TrimSpace(chainIn)) > 0 {
		chain, err := parseCerts(chainIn)
		if err != nil || len(chain) == 0 {
			return nil, validation("%s", msgChainParse)
		}
		if leaf.CheckSignatureFrom(chain[0]) != nil {
			return nil, validation("%s", msgChainMismatch)
		}
		m.chainPEM = encodeCerts(chain)
	}
	// What a listener will load: if the standard library cannot, the
	// import is no use.
	if _, err := tls.X509KeyPair([]byte(m.certPEM+m.chainPEM), []byte(m.keyPEM)); err != nil {
		return nil, validation("%s", msgKeyMismatch)
	}
	return m, nil
}

// parseCerts parses every CERTIFICATE block of PEM text; any other block
// or an unparsable certificate is an error.
func parseCerts(in []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, in = pem.Decode(in)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, validation("%s", msgCertParse)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func encodeCerts(certs []*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String()
}

// parseKey parses the first PEM block of in as a PKCS #8, PKCS #1 or SEC 1
// private key.
func parseKey(in []byte) (crypto.Signer, string, error) {
	b, _ := pem.Decode(in)
	if b == nil {
		return nil, "", validation("%s", msgKeyParse)
	}
	if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, "", validation("%s", msgKeyEncrypted)
	}
	var (
		key any
		err error
	)
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, "", validation("%s", msgKeyParse)
	}
	if err != nil {
		return nil, "", validation("%s", msgKeyType)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, "", validation("%s", msgKeyType)
	}
	return signer, string(pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes})), nil
}

// keyAlgorithm is ACM's name of a public key's algorithm: RSA_2048,
// EC_prime256v1... ("" for Ed25519, which the model has no name for).
func keyAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 1024:
			return acmtypes.KeyAlgorithmRSA1024, nil
		case 2048:
			return acmtypes.KeyAlgorithmRSA2048, nil
		case 3072:
			return acmtypes.KeyAlgorithmRSA3072, nil
		case 4096:
			return acmtypes.KeyAlgorithmRSA4096, nil
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return acmtypes.KeyAlgorithmECPrime256v1, nil
		case elliptic.P384():
			return acmtypes.KeyAlgorithmECSecp384r1, nil
		case elliptic.P521():
			return acmtypes.KeyAlgorithmECSecp521r1, nil
		}
	case ed25519.PublicKey:
		return "", nil
	}
	return "", validation("%s", msgKeyType)
}
