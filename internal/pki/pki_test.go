package pki

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type ca struct{ cert, key []byte }

func newCA(t *testing.T) ca {
	t.Helper()
	c, k, err := CreateCA(CARequest{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca{c, k}
}

// files writes ca's certificate and a certificate for req into dir.
func (c ca) files(t *testing.T, dir string, req CertRequest) Files {
	t.Helper()
	cert, key, err := CreateCert(c.cert, c.key, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	for p, b := range map[string][]byte{f.CA: c.cert, f.Cert: cert, f.Key: key} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func load(t *testing.T, f Files) *Source {
	t.Helper()
	s, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handshake runs one TLS handshake over a real loopback connection and
// returns both sides' errors and the node the server saw.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, peer string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			serverErr = err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if serverErr = tc.Handshake(); serverErr == nil {
			peer, serverErr = PeerNode(tc.ConnectionState())
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, client)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	clientErr = tc.Handshake()
	if clientErr == nil {
		// TLS 1.3: the server's verdict on our certificate arrives with
		// the first read.
		_, clientErr = tc.Read(make([]byte, 1))
		if errors.Is(clientErr, os.ErrDeadlineExceeded) || errors.Is(clientErr, io.EOF) {
			clientErr = nil
		}
	}
	c.Close()
	<-done
	return serverErr, clientErr, peer
}

func TestNodeName(t *testing.T) {
	c := newCA(t)
	f := c.files(t, t.TempDir(), CertRequest{Node: "node-1"})
	s := load(t, f)
	got, err := NodeName(s.Certificate().Leaf)
	if err != nil || got != "node-1" {
		t.Fatalf("NodeName = %q, %v; want node-1", got, err)
	}
	cl := load(t, c.files(t, t.TempDir(), CertRequest{Client: "ops"}))
	if _, err := NodeName(cl.Certificate().Leaf); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("client certificate: NodeName err = %v, want ErrNoIdentity", err)
	}
}

func TestMeshHandshake(t *testing.T) {
	c := newCA(t)
	n1 := load(t, c.files(t, t.TempDir(), CertRequest{Node: "node-1"}))
	n2 := load(t, c.files(t, t.TempDir(), CertRequest{Node: "node-2"}))
	client := load(t, c.files(t, t.TempDir(), CertRequest{Client: "ops"}))
	other := load(t, newCA(t).files(t, t.TempDir(), CertRequest{Node: "node-2"}))

	t.Run("node of the CA", func(t *testing.T) {
		se, ce, peer := handshake(t, n1.MeshServerConfig(), n2.MeshClientConfig("node-1"))
		if se != nil || ce != nil || peer != "node-2" {
			t.Fatalf("server %v, client %v, peer %q; want success as node-2", se, ce, peer)
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		se, _, _ := handshake(t, n1.MeshServerConfig(), client.MeshClientConfig("node-1"))
		if se == nil {
			t.Fatal("mesh accepted a client certificate")
		}
	})
	t.Run("another CA", func(t *testing.T) {
		se, _, _ := handshake(t, n1.MeshServerConfig(), other.MeshClientConfig("node-1"))
		if se == nil {
			t.Fatal("mesh accepted a certificate of another CA")
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		se, _, _ := handshake(t, n1.MeshServerConfig(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if se == nil {
			t.Fatal("mesh accepted a peer without a certificate")
		}
	})
	t.Run("dialing the wrong node", func(t *testing.T) {
		_, ce, _ := handshake(t, n1.MeshServerConfig(), n2.MeshClientConfig("node-3"))
		if !errors.Is(ce, ErrWrongNode) {
			t.Fatalf("client err = %v, want ErrWrongNode", ce)
		}
	})
}

func TestAPIHandshake(t *testing.T) {
	c := newCA(t)
	n1 := load(t, c.files(t, t.TempDir(), CertRequest{Node: "node-1"}))
	client := load(t, c.files(t, t.TempDir(), CertRequest{Client: "ops"}))
	anon, err := Load(Files{CA: n1.Files().CA})
	if err != nil {
		t.Fatal(err)
	}
	cc := func(s *Source) *tls.Config { cfg := s.ClientConfig(); cfg.ServerName = "127.0.0.1"; return cfg }
	if se, ce, _ := handshake(t, n1.ServerConfig(true), cc(client)); se != nil && !errors.Is(se, ErrNoIdentity) || ce != nil {
		t.Fatalf("client cert with verify_incoming: server %v, client %v", se, ce)
	}
	if se, _, _ := handshake(t, n1.ServerConfig(true), cc(anon)); se == nil {
		t.Fatal("verify_incoming accepted a client without a certificate")
	}
	if se, ce, _ := handshake(t, n1.ServerConfig(false), cc(anon)); se != nil && !errors.Is(se, ErrNoPeerCertificate) || ce != nil {
		t.Fatalf("no client cert without verify_incoming: server %v, client %v", se, ce)
	}
}

func TestSourceReloadsReplacedFiles(t *testing.T) {
	c := newCA(t)
	dir := t.TempDir()
	f := c.files(t, dir, CertRequest{Node: "node-1"})
	s := load(t, f)
	clock := time.Now()
	s.now = func() time.Time { return clock }

	c.files(t, dir, CertRequest{Node: "node-9"}) // same paths, new content
	if got, _ := NodeName(s.Certificate().Leaf); got != "node-1" {
		t.Fatalf("reloaded before the recheck interval: %q", got)
	}
	clock = clock.Add(recheckEvery)
	if got, _ := NodeName(s.Certificate().Leaf); got != "node-9" {
		t.Fatalf("after replacing the files: node %q, want node-9", got)
	}
	if err := os.WriteFile(f.Cert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(recheckEvery)
	if got, _ := NodeName(s.Certificate().Leaf); got != "node-9" {
		t.Fatalf("a broken file replaced the certificate in force: %q", got)
	}
	if s.LoadError() == nil {
		t.Fatal("LoadError is nil after a failed reload")
	}
}

func TestCreateCertRefusesBadRequests(t *testing.T) {
	c := newCA(t)
	for name, req := range map[string]CertRequest{
		"neither": {},
		"both":    {Node: "a", Client: "b"},
	} {
		if _, _, err := CreateCert(c.cert, c.key, req, time.Now()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	leafCert, leafKey, err := CreateCert(c.cert, c.key, CertRequest{Node: "n"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := CreateCert(leafCert, leafKey, CertRequest{Node: "m"}, time.Now()); err == nil {
		t.Error("a node certificate signed another certificate")
	}
}
