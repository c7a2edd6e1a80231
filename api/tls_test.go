package api

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/internal/pki"
)

// testPKI is a CA with a node certificate and a client certificate, and a
// second, unrelated CA with a client certificate of its own, on disk.
type testPKI struct {
	node, client, stranger pki.Files
}

func writePEM(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	mk := func(prefix string) (caPath string, caCert, caKey []byte) {
		caCert, caKey, err := pki.CreateCA(pki.CARequest{CommonName: prefix + " CA"}, now)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, prefix+"-ca.pem", caCert), caCert, caKey
	}
	cert := func(caCert, caKey []byte, req pki.CertRequest, name, caPath string) pki.Files {
		c, k, err := pki.CreateCert(caCert, caKey, req, now)
		if err != nil {
			t.Fatal(err)
		}
		return pki.Files{CA: caPath, Cert: writePEM(t, dir, name+".pem", c), Key: writePEM(t, dir, name+"-key.pem", k)}
	}
	ca, caCert, caKey := mk("ours")
	_, oCert, oKey := mk("other")
	return testPKI{
		node:   cert(caCert, caKey, pki.CertRequest{Node: "n1"}, "n1", ca),
		client: cert(caCert, caKey, pki.CertRequest{Client: "ops"}, "ops", ca),
		// The stranger trusts our CA (it can verify the server) but its
		// own certificate comes from another CA.
		stranger: cert(oCert, oKey, pki.CertRequest{Client: "ops"}, "stranger", ca),
	}
}

func loadSource(t *testing.T, f pki.Files) *pki.Source {
	t.Helper()
	s, err := pki.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startTLS serves a fake node with the PKI's node identity.
func startTLS(t *testing.T, p testPKI, verifyIncoming bool) *served {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.TLS = loadSource(t, p.node)
	cfg.VerifyIncoming = verifyIncoming
	node := newFakeNode("n1")
	node.put("k", []byte("v"))
	return startServerWith(t, cfg, node.services())
}

// clientTLS is the client side: the CA always, the certificate if any.
func clientTLS(t *testing.T, f pki.Files) *tls.Config {
	t.Helper()
	return loadSource(t, f).ClientConfig()
}

func grpcGet(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := pb.NewKVClient(conn).Get(testCtx(t), &pb.GetRequest{Key: "k"})
	if err == nil && string(resp.GetEntry().GetValue()) != "v" {
		t.Fatalf("get k = %q, want v", resp.GetEntry().GetValue())
	}
	return err
}

func httpsGet(addr, path string, c *tls.Config) (int, string, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestTLSVerifyIncoming: with verify_incoming, both doors refuse at the
// handshake a client without a certificate and one whose certificate comes
// from another CA, and serve one with a certificate of the cluster CA;
// /metrics and health follow the same rule.
func TestTLSVerifyIncoming(t *testing.T) {
	p := newTestPKI(t)
	s := startTLS(t, p, true)
	grpcAddr, httpAddr := s.srv.GRPCAddr().String(), s.srv.HTTPAddr().String()
	caOnly := pki.Files{CA: p.client.CA}

	tests := map[string]struct {
		files pki.Files
		ok    bool
	}{
		"client certificate of the CA":     {files: p.client, ok: true},
		"node certificate of the CA":       {files: p.node, ok: true},
		"no client certificate":            {files: caOnly},
		"client certificate of another CA": {files: p.stranger},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := grpcGet(t, grpcAddr, credentials.NewTLS(clientTLS(t, tc.files)))
			if tc.ok && err != nil {
				t.Fatalf("grpc: %v", err)
			}
			if !tc.ok && status.Code(err) != codes.Unavailable {
				t.Fatalf("grpc: err %v, want Unavailable (handshake refused)", err)
			}
			for _, path := range []string{"/v1/kv/k?raw", "/metrics", "/v1/health/live"} {
				code, body, err := httpsGet(httpAddr, path, clientTLS(t, tc.files))
				if tc.ok && (err != nil || code != http.StatusOK) {
					t.Fatalf("https %s: %d %q %v", path, code, body, err)
				}
				if !tc.ok && err == nil {
					t.Fatalf("https %s: answered %d without a valid client certificate", path, code)
				}
			}
		})
	}

	// A plain-text client gets nothing on either door.
	if err := grpcGet(t, grpcAddr, insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
		t.Fatalf("plain grpc: %v, want Unavailable", err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + httpAddr + "/v1/health/live")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain http to the TLS door answered 200")
		}
	}
}

// TestTLSWithoutVerifyIncoming: TLS on, client certificates optional; a
// client still has to trust the CA.
func TestTLSWithoutVerifyIncoming(t *testing.T) {
	p := newTestPKI(t)
	s := startTLS(t, p, false)
	caOnly := pki.Files{CA: p.client.CA}
	if err := grpcGet(t, s.srv.GRPCAddr().String(), credentials.NewTLS(clientTLS(t, caOnly))); err != nil {
		t.Fatalf("grpc without client certificate: %v", err)
	}
	if code, body, err := httpsGet(s.srv.HTTPAddr().String(), "/v1/kv/k?raw", clientTLS(t, caOnly)); err != nil || code != 200 || body != "v" {
		t.Fatalf("https without client certificate: %d %q %v", code, body, err)
	}
	// A client that does not trust the CA refuses the server.
	_, _, err := httpsGet(s.srv.HTTPAddr().String(), "/v1/health/live", &tls.Config{MinVersion: tls.VersionTLS12})
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("https with the system roots: %v, want unknown authority", err)
	}
}

func TestConfigVerifyIncomingNeedsTLS(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.VerifyIncoming = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "verify_incoming") {
		t.Fatalf("Validate() = %v, want a verify_incoming error", err)
	}
	cfg = DefaultLocalConfig()
	cfg.AllowedHosts = []string{"host:80"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http_allowed_hosts") {
		t.Fatalf("Validate() = %v, want an http_allowed_hosts error", err)
	}
}
