package client

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/internal/pki"
)

// tlsAgent serves the fake agent's Cluster service over TLS that requires
// a client certificate of its CA; it returns the address and the files of
// a client certificate.
func tlsAgent(t *testing.T) (string, pki.Files) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	caCert, caKey, err := pki.CreateCA(pki.CARequest{}, now)
	if err != nil {
		t.Fatal(err)
	}
	ca := write("ca.pem", caCert)
	nc, nk, err := pki.CreateCert(caCert, caKey, pki.CertRequest{Node: "n1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cc, ck, err := pki.CreateCert(caCert, caKey, pki.CertRequest{Client: "app"}, now)
	if err != nil {
		t.Fatal(err)
	}
	src, err := pki.Load(pki.Files{CA: ca, Cert: write("n1.pem", nc), Key: write("n1-key.pem", nk)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(src.ServerConfig(true))))
	pb.RegisterClusterServer(srv, &fakeAgent{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), pki.Files{CA: ca, Cert: write("app.pem", cc), Key: write("app-key.pem", ck)}
}

func TestWithTLSFiles(t *testing.T) {
	addr, files := tlsAgent(t)
	tests := map[string]struct {
		opt    Option
		wantOK bool
	}{
		"client certificate":    {opt: WithTLSFiles(files.CA, files.Cert, files.Key), wantOK: true},
		"no client certificate": {opt: WithTLSFiles(files.CA, "", "")},
		"plain text":            {opt: WithDialOptions()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := New(addr, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ms, err := c.Members(ctx(t))
			if tc.wantOK && (err != nil || len(ms) != 1) {
				t.Fatalf("Members = %v, %v", ms, err)
			}
			if !tc.wantOK && !IsUnavailable(err) {
				t.Fatalf("Members err = %v, want Unavailable", err)
			}
		})
	}
}

func TestWithTLS(t *testing.T) {
	addr, files := tlsAgent(t)
	src, err := pki.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(addr, WithTLS(src.ClientConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.RaftStatus(ctx(t)); err != nil {
		t.Fatalf("RaftStatus over TLS: %v", err)
	}
}

func TestWithTLSFilesBadFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pem")
	_, err := New("127.0.0.1:1", WithTLSFiles(missing, "", ""))
	if err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Fatalf("New with a missing CA file = %v, want an error naming it", err)
	}
	_, err = New("127.0.0.1:1", WithTLSFiles("", "c.pem", "k.pem"))
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("New without a CA = %v, want an error naming ca_file", err)
	}
}
