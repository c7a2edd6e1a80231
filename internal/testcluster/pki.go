package testcluster

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/pki"
)

// authority is a test cluster's CA: it writes certificates into the test's
// temp dir, as `conclave tls` writes them for a real cluster.
type authority struct {
	cert, key []byte
	dir       string

	mu sync.Mutex
	n  int
}

func newAuthority(t testing.TB) *authority {
	t.Helper()
	cert, key, err := pki.CreateCA(pki.CARequest{CommonName: "testcluster CA"}, time.Now())
	if err != nil {
		t.Fatalf("testcluster: create CA: %v", err)
	}
	a := &authority{cert: cert, key: key, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(a.dir, "ca.pem"), cert, 0o600); err != nil {
		t.Fatalf("testcluster: write CA: %v", err)
	}
	return a
}

// issue writes a certificate for req and its key, and returns the files
// with the CA's.
func (a *authority) issue(t testing.TB, req pki.CertRequest) pki.Files {
	t.Helper()
	cert, key, err := pki.CreateCert(a.cert, a.key, req, time.Now())
	if err != nil {
		t.Fatalf("testcluster: create certificate: %v", err)
	}
	a.mu.Lock()
	a.n++
	base := filepath.Join(a.dir, strconv.Itoa(a.n))
	a.mu.Unlock()
	f := pki.Files{CA: filepath.Join(a.dir, "ca.pem"), Cert: base + "-cert.pem", Key: base + "-key.pem"}
	for p, b := range map[string][]byte{f.Cert: cert, f.Key: key} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatalf("testcluster: write certificate: %v", err)
		}
	}
	return f
}

// IssueCert writes a certificate of the cluster's CA for req (a node or a
// client) and returns its files, for tests that play a peer or a client.
// It fails the test on a Plain cluster, which has no CA.
func (c *Cluster) IssueCert(req pki.CertRequest) pki.Files {
	c.t.Helper()
	if c.ca == nil {
		c.t.Fatal("testcluster: IssueCert on a Plain cluster")
	}
	return c.ca.issue(c.t, req)
}

// TLS reports whether the cluster's mesh runs with mutual TLS.
func (c *Cluster) TLS() bool { return c.ca != nil }
