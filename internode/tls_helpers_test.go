package internode

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/pki"
)

// testCA is a cluster CA that mints certificates into a test's temp dir.
type testCA struct{ cert, key []byte }

func newTestCA(t testing.TB) testCA {
	t.Helper()
	c, k, err := pki.CreateCA(pki.CARequest{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return testCA{c, k}
}

// source writes the CA and a certificate for req and loads them.
func (c testCA) source(t testing.TB, req pki.CertRequest) *pki.Source {
	t.Helper()
	cert, key, err := pki.CreateCert(c.cert, c.key, req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := pki.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	for p, b := range map[string][]byte{f.CA: c.cert, f.Cert: cert, f.Key: key} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := pki.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// directory maps mesh addresses to node names: the Resolve of test meshes.
type directory struct {
	mu     sync.Mutex
	byAddr map[string]string
}

func newDirectory() *directory { return &directory{byAddr: map[string]string{}} }

func (d *directory) set(addr, node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byAddr[addr] = node
}

func (d *directory) resolve(addr string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.byAddr[addr]; ok {
		return n, nil
	}
	return "", fmt.Errorf("test directory: nothing at %s", addr)
}

// newTLSMesh starts a TLS mesh for node with certs, registered in dir
// under its own name.
func newTLSMesh(t testing.TB, node string, certs Certs, dir *directory, mut func(*Config)) *Mesh {
	t.Helper()
	m := newMesh(t, mut, WithTLS(TLS{Node: node, Certs: certs, Resolve: dir.resolve}))
	dir.set(m.Addr(), node)
	return m
}

// counted is a handler that counts its calls and echoes.
type counted struct{ n atomic.Int64 }

func (c *counted) handle(ctx context.Context, req []byte) ([]byte, error) {
	c.n.Add(1)
	return echo(ctx, req)
}

// stranger connects to addr as a hand-written client: TCP, then TLS with
// cfg unless cfg is nil, then the preamble pre, then yamux and one forward
// request. It reports whether it got a reply (it must not) and the error.
func stranger(t testing.TB, addr string, cfg *tls.Config, pre []byte) ([]byte, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	var conn net.Conn = raw
	if cfg != nil {
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		conn = tc
	}
	if _, err := conn.Write(pre); err != nil {
		return nil, fmt.Errorf("preamble: %w", err)
	}
	ycfg := yamux.DefaultConfig()
	ycfg.LogOutput = nil
	ycfg.Logger = yamuxLogger{log: zerolog.Nop()}
	sess, err := yamux.Client(conn, ycfg)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	st, err := sess.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write(appendFrame([]byte{byte(ClassForward)}, []byte("hello"))); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(st)
	status, err := br.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	body, err := readFrame(br, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return append([]byte{status}, body...), nil
}

// rawSession opens a plain yamux session to a plain mesh at addr, as the
// peer whose advertised address is self.
func rawSession(t testing.TB, addr, self string) *yamux.Session {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(makePreamble(self, "")); err != nil {
		t.Fatal(err)
	}
	ycfg := yamux.DefaultConfig()
	ycfg.LogOutput = nil
	ycfg.Logger = yamuxLogger{log: zerolog.Nop()}
	sess, err := yamux.Client(conn, ycfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}
