package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Files names the PEM files of one TLS identity.
type Files struct {
	// CA holds one or more CA certificates (several while a CA is rotated):
	// a peer is trusted if it chains to any of them.
	CA string
	// Cert and Key are this side's certificate and private key. Both empty
	// means no certificate of our own (an API client with verify_incoming off).
	Cert, Key string
}

// recheckEvery bounds how often a handshake looks at the files' stat.
const recheckEvery = 2 * time.Second

// Source holds the loaded files and reloads them when one changes on disk,
// so certificates and CA bundles rotate without a restart. A reload that
// fails keeps the previous files in force; LoadError reports it.
type Source struct {
	files Files
	now   func() time.Time

	mu        sync.Mutex
	cur       *loaded
	checked   time.Time
	reloadErr error
}

type loaded struct {
	cert  *tls.Certificate // nil without Cert/Key
	pool  *x509.CertPool
	stamp string // sizes and mtimes of the files, to notice a change
}

// Load reads the files once and returns a Source that keeps them fresh.
func Load(f Files) (*Source, error) {
	if f.CA == "" {
		return nil, errors.New("pki: ca_file: required")
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("pki: cert_file and key_file: set both or neither")
	}
	s := &Source{files: f, now: time.Now}
	l, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur = l
	s.checked = s.now()
	return s, nil
}

// Files returns the paths the Source reads.
func (s *Source) Files() Files { return s.files }

// LoadError is the error of the last reload attempt, nil when the files on
// disk are the ones in force.
func (s *Source) LoadError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadErr
}

// current returns the files in force, reloading them if they changed.
func (s *Source) current() *loaded {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.checked) < recheckEvery {
		return s.cur
	}
	s.checked = now
	if st, err := s.stamp(); err == nil && st == s.cur.stamp {
		return s.cur
	}
	l, err := s.load()
	if err != nil {
		s.reloadErr = err
		return s.cur
	}
	s.cur, s.reloadErr = l, nil
	return l
}

func (s *Source) stamp() (string, error) {
	var b bytes.Buffer
	for _, p := range []string{s.files.CA, s.files.Cert, s.files.Key} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func (s *Source) load() (*loaded, error) {
	st, err := s.stamp()
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	caPEM, err := os.ReadFile(s.files.CA)
	if err != nil {
		return nil, fmt.Errorf("pki: ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("pki: ca_file %s: no PEM certificate in it", s.files.CA)
	}
	l := &loaded{pool: pool, stamp: st}
	if s.files.Cert != "" {
		certPEM, err := os.ReadFile(s.files.Cert)
		if err != nil {
			return nil, fmt.Errorf("pki: cert_file: %w", err)
		}
		keyPEM, err := os.ReadFile(s.files.Key)
		if err != nil {
			return nil, fmt.Errorf("pki: key_file: %w", err)
		}
		pair, err := tlsPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("pki: cert_file %s with key_file %s: %w", s.files.Cert, s.files.Key, err)
		}
		l.cert = &pair
	}
	return l, nil
}

func tlsPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return pair, err
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return pair, err
	}
	pair.Leaf = leaf
	return pair, nil
}

// Certificate returns this side's certificate (nil without one).
func (s *Source) Certificate() *tls.Certificate { return s.current().cert }

// ServerConfig is the configuration of a TLS server (gRPC, HTTP): it serves
// our certificate, and with requireClient it refuses clients without a
// certificate of the CA.
func (s *Source) ServerConfig(requireClient bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClient {
		auth = tls.RequireAndVerifyClientCert
	}
	// gRPC needs h2 negotiated; HTTP serves either.
	return s.serverConfig(tls.VersionTLS12, auth, nil, []string{"h2", "http/1.1"})
}

// serverConfig is a server configuration that takes the files in force at
// each handshake, so a replaced certificate or CA bundle applies to the
// next connection.
func (s *Source) serverConfig(minVersion uint16, auth tls.ClientAuthType, verify func(tls.ConnectionState) error, protos []string) *tls.Config {
	return &tls.Config{
		MinVersion: minVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l := s.current()
			if l.cert == nil {
				return nil, errors.New("pki: no server certificate configured")
			}
			return &tls.Config{
				MinVersion:       minVersion,
				Certificates:     []tls.Certificate{*l.cert},
				ClientCAs:        l.pool,
				ClientAuth:       auth,
				VerifyConnection: verify,
				NextProtos:       protos,
			}, nil
		},
	}
}

// ClientConfig is the configuration of an API client: it verifies the
// server's certificate against the CA and the dialed host name or IP as
// usual, and presents our certificate when we have one, re-read when its
// files change (a long-lived client picks up a renewed certificate on its
// next connection). The CA pool is the one in force when it is called.
func (s *Source) ClientConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.current().pool}
	if s.files.Cert != "" {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		}
	}
	return c
}

// MeshServerConfig is the internode listener's configuration: both sides
// must present a certificate of the CA that names a node. The caller reads
// the peer's node with PeerNode after the handshake.
func (s *Source) MeshServerConfig() *tls.Config {
	return s.serverConfig(tls.VersionTLS13, tls.RequireAndVerifyClientCert, requireNode(""), nil)
}

// MeshClientConfig is the configuration for dialing a peer's mesh port.
// The peer's certificate must chain to the CA and name a node; when
// expectNode is not "" it must name exactly that node. Host names play no
// part: mesh peers are known by node name, not by address.
func (s *Source) MeshClientConfig(expectNode string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verification is done by VerifyConnection against the CA pool in
		// force; the standard host name check does not apply to node names.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			l := s.current()
			if l.cert == nil {
				return nil, errors.New("pki: no node certificate configured")
			}
			return l.cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := verifyChain(cs, s.current().pool, x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			return requireNode(expectNode)(cs)
		},
	}
}

// PeerNode returns the node that a completed handshake's peer certificate
// names.
func PeerNode(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", ErrNoPeerCertificate
	}
	return NodeName(cs.PeerCertificates[0])
}

func requireNode(expect string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		node, err := PeerNode(cs)
		if err != nil {
			return err
		}
		if expect != "" && node != expect {
			return fmt.Errorf("%w: want %q, certificate names %q", ErrWrongNode, expect, node)
		}
		return nil
	}
}

func verifyChain(cs tls.ConnectionState, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return ErrNoPeerCertificate
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return nil
}
