package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Default lifetimes: long enough to run a cluster without ceremony, short
// enough that a leaked node key expires. Rotation is documented in
// docs/security.md.
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// CARequest describes a new cluster CA.
type CARequest struct {
	// CommonName defaults to "conclave CA".
	CommonName string
	// Validity defaults to DefaultCAValidity.
	Validity time.Duration
}

// CertRequest describes a node or client certificate.
type CertRequest struct {
	// Node names the node: the certificate gets NodeURI(Node), may serve
	// and dial the mesh and the APIs. Exactly one of Node and Client is set.
	Node string
	// Client names an API client: the certificate gets ClientURI(Client)
	// and client authentication only.
	Client string
	// DNS and IPs are extra subject alternative names (the addresses API
	// clients dial). Node certificates always get localhost, 127.0.0.1
	// and ::1 as well.
	DNS []string
	IPs []net.IP
	// Validity defaults to DefaultCertValidity.
	Validity time.Duration
}

// CreateCA returns a new self-signed CA certificate and its private key,
// both PEM.
func CreateCA(req CARequest, now time.Time) (certPEM, keyPEM []byte, err error) {
	if req.CommonName == "" {
		req.CommonName = "conclave CA"
	}
	if req.Validity <= 0 {
		req.Validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName, Organization: []string{"conclave"}},
		NotBefore:             now.Add(-time.Minute), // tolerate a little clock skew
		NotAfter:              now.Add(req.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign CA: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// CreateCert returns a certificate for req signed by the CA, and its
// private key, both PEM.
func CreateCert(caCertPEM, caKeyPEM []byte, req CertRequest, now time.Time) (certPEM, keyPEM []byte, err error) {
	if (req.Node == "") == (req.Client == "") {
		return nil, nil, errors.New("pki: set exactly one of node and client")
	}
	if req.Validity <= 0 {
		req.Validity = DefaultCertValidity
	}
	ca, err := tlsPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	if !caCert.IsCA {
		return nil, nil, errors.New("pki: the CA certificate is not a CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     req.DNS,
		IPAddresses:  req.IPs,
	}
	if req.Node != "" {
		tmpl.Subject = pkix.Name{CommonName: req.Node, Organization: []string{"conclave"}}
		tmpl.URIs = append(tmpl.URIs, NodeURI(req.Node))
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = appendMissing(tmpl.DNSNames, "localhost")
		tmpl.IPAddresses = appendMissingIP(tmpl.IPAddresses, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	} else {
		tmpl.Subject = pkix.Name{CommonName: req.Client, Organization: []string{"conclave"}}
		tmpl.URIs = append(tmpl.URIs, ClientURI(req.Client))
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	return n, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func appendMissing(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

func appendMissingIP(list []net.IP, ips ...net.IP) []net.IP {
next:
	for _, ip := range ips {
		for _, v := range list {
			if v.Equal(ip) {
				continue next
			}
		}
		list = append(list, ip)
	}
	return list
}
