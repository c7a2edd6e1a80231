package internode

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-dev/conclave/internal/pki"
)

func TestTLSMeshServesItsNodes(t *testing.T) {
	ca := newTestCA(t)
	dir := newDirectory()
	a := newTLSMesh(t, "n1", ca.source(t, pki.CertRequest{Node: "n1"}), dir, nil)
	b := newTLSMesh(t, "n2", ca.source(t, pki.CertRequest{Node: "n2"}), dir, nil)
	type seen struct{ addr, node string }
	got := make(chan seen, 1)
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		got <- seen{Peer(ctx), PeerNode(ctx)}
		return req, nil
	})
	ctx := ctxTimeout(t, 10*time.Second)
	reply, err := a.Request(ctx, b.Addr(), ClassForward, []byte("hi"))
	if err != nil || string(reply) != "hi" {
		t.Fatalf("Request over TLS: %q %v", reply, err)
	}
	if s := <-got; s.addr != a.Addr() || s.node != "n1" {
		t.Fatalf("handler saw peer %q node %q, want %q n1", s.addr, s.node, a.Addr())
	}
	// Raft's transport runs over TLS streams unchanged.
	ta := raft.NewNetworkTransport(a.StreamLayer(ClassRaft), 3, time.Second, io.Discard)
	tb := raft.NewNetworkTransport(b.StreamLayer(ClassRaft), 3, time.Second, io.Discard)
	defer ta.Close()
	defer tb.Close()
	go func() {
		for rpc := range tb.Consumer() {
			rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil)
		}
	}()
	var vote raft.RequestVoteResponse
	if err := ta.RequestVote("n2", raft.ServerAddress(b.Addr()), &raft.RequestVoteRequest{Term: 1}, &vote); err != nil || !vote.Granted {
		t.Fatalf("RequestVote over TLS: %v %+v", err, vote)
	}
	for _, m := range []*Mesh{a, b} {
		for r, n := range m.Stats().Rejected {
			if n != 0 {
				t.Errorf("%s rejected %d (%s) between honest nodes", m.Addr(), n, r)
			}
		}
	}
}

// TestMeshRefusesStrangers: each door of a TLS mesh refuses, closes and
// counts a peer that cannot prove it is the node it claims, before any
// preamble or class byte is read; no handler runs.
func TestMeshRefusesStrangers(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	dir := newDirectory()
	b := newTLSMesh(t, "n2", ca.source(t, pki.CertRequest{Node: "n2"}), dir, func(c *Config) { c.DialTimeout = 500 * time.Millisecond })
	var h counted
	b.Handle(ClassForward, h.handle)

	with := func(certs ...tls.Certificate) *tls.Config {
		// The stranger accepts any server: we test the server's door.
		return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: certs}
	}
	n3 := ca.source(t, pki.CertRequest{Node: "n3"}).Certificate()
	cases := map[string]struct {
		cfg  *tls.Config
		want RejectReason
	}{
		"no certificate":             {with(), RejectNoCert},
		"certificate of another CA":  {with(*other.source(t, pki.CertRequest{Node: "n1"}).Certificate()), RejectBadCert},
		"client certificate":         {with(*ca.source(t, pki.CertRequest{Client: "ops"}).Certificate()), RejectBadCert},
		"node-3 claiming to be n1":   {with(*n3), RejectWrongNode},
		"plain preamble on TLS port": {nil, RejectProtocol},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := b.Stats().Rejected
			reply, err := stranger(t, b.Addr(), tc.cfg, makePreamble("127.0.0.1:7999", "n1"))
			if err == nil {
				t.Fatalf("stranger got a reply %q", reply)
			}
			waitFor(t, 5*time.Second, "rejection counted as "+string(tc.want), func() bool {
				return b.Stats().Rejected[tc.want] == before[tc.want]+1
			})
			for r, n := range b.Stats().Rejected {
				if r != tc.want && n != before[r] {
					t.Errorf("also counted %s: %d -> %d", r, before[r], n)
				}
			}
		})
	}
	t.Run("silent", func(t *testing.T) {
		before := b.Stats().Rejected[RejectHandshake]
		conn, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); isTimeout(err) {
			t.Fatal("a silent connection was never closed")
		}
		waitFor(t, 5*time.Second, "handshake timeout counted", func() bool {
			return b.Stats().Rejected[RejectHandshake] == before+1
		})
	})
	if n := h.n.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for strangers", n)
	}
	if s := b.Stats(); s.SessionsAccepted != 0 {
		t.Fatalf("%d sessions accepted from strangers", s.SessionsAccepted)
	}
}

// TestDialerVerifiesListener: a node dials an address expecting the node
// the directory names there; a listener with any other identity is refused
// before anything is sent, and counted on the dialer.
func TestDialerVerifiesListener(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	dir := newDirectory()
	a := newTLSMesh(t, "n1", ca.source(t, pki.CertRequest{Node: "n1"}), dir, nil)

	// n2's valid certificate, listening where n3 is expected.
	impostor := newTLSMesh(t, "n2", ca.source(t, pki.CertRequest{Node: "n2"}), dir, nil)
	dir.set(impostor.Addr(), "n3")
	// A node of another CA.
	foreign := newTLSMesh(t, "n4", other.source(t, pki.CertRequest{Node: "n4"}), dir, nil)
	// A mesh in clear.
	plain := newMesh(t, nil)
	dir.set(plain.Addr(), "n5")

	var h counted
	for _, m := range []*Mesh{impostor, foreign, plain} {
		m.Handle(ClassForward, h.handle)
	}
	cases := map[string]struct {
		addr string
		want RejectReason
	}{
		"valid certificate of another node": {impostor.Addr(), RejectWrongNode},
		"certificate of another CA":         {foreign.Addr(), RejectBadCert},
		"listener without TLS":              {plain.Addr(), RejectHandshake},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := a.Stats().Rejected[tc.want]
			_, err := a.Request(ctxTimeout(t, 5*time.Second), tc.addr, ClassForward, []byte("secret"))
			if !isNotSent(err) {
				t.Fatalf("Request: %v, want ErrNotSent", err)
			}
			if got := a.Stats().Rejected[tc.want]; got != before+1 {
				t.Fatalf("rejected[%s] = %d, want %d", tc.want, got, before+1)
			}
		})
	}
	if n := h.n.Load(); n != 0 {
		t.Fatalf("handlers ran %d times", n)
	}

	t.Run("unknown address", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		_, err = a.Request(ctxTimeout(t, 5*time.Second), ln.Addr().String(), ClassForward, nil)
		if !isNotSent(err) || !errors.Is(err, ErrUnknownPeer) {
			t.Fatalf("Request to an address no node is known at: %v", err)
		}
	})
}

func TestWithTLSValidates(t *testing.T) {
	ca := newTestCA(t)
	src := ca.source(t, pki.CertRequest{Node: "n1"})
	res := func(string) (string, error) { return "", nil }
	for name, tl := range map[string]TLS{
		"no node":     {Certs: src, Resolve: res},
		"no certs":    {Node: "n1", Resolve: res},
		"no resolver": {Node: "n1", Certs: src},
	} {
		if _, err := New(DefaultLocalConfig(), WithTLS(tl)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
}
