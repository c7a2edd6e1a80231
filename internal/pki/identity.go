package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Identity URIs (SPIFFE-shaped, trust domain "conclave").
const (
	uriScheme  = "spiffe"
	uriHost    = "conclave"
	nodePrefix = "/node/"
	clientPath = "/client/"
)

// Sentinel errors; callers use errors.Is.
var (
	// ErrNoIdentity: the certificate names no conclave node.
	ErrNoIdentity = errors.New("pki: certificate names no conclave node")
	// ErrNoPeerCertificate: the peer presented no certificate.
	ErrNoPeerCertificate = errors.New("pki: peer presented no certificate")
	// ErrWrongNode: the certificate names another node than expected.
	ErrWrongNode = errors.New("pki: certificate names another node")
	// ErrUntrusted: the peer's certificate does not chain to the CA in force
	// (another CA, expired, wrong key usage).
	ErrUntrusted = errors.New("pki: peer certificate not trusted")
)

// NodeURI is the URI SAN that names node in its certificate.
func NodeURI(node string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: uriHost, Path: nodePrefix + node}
}

// ClientURI is the URI SAN of a client certificate called name.
func ClientURI(name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: uriHost, Path: clientPath + name}
}

// NodeName returns the node that cert names through its node URI SAN. A
// certificate naming two different nodes names none.
func NodeName(cert *x509.Certificate) (string, error) {
	found := ""
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme || u.Host != uriHost || !strings.HasPrefix(u.Path, nodePrefix) {
			continue
		}
		name := strings.TrimPrefix(u.Path, nodePrefix)
		if name == "" {
			continue
		}
		if found != "" && found != name {
			return "", fmt.Errorf("%w: it names both %q and %q", ErrNoIdentity, found, name)
		}
		found = name
	}
	if found == "" {
		return "", ErrNoIdentity
	}
	return found, nil
}
