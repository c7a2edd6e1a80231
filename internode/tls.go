package internode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/conclave-dev/conclave/internal/pki"
)

// Certs supplies the mesh's TLS configurations; *pki.Source implements it
// and picks up replaced certificate files. Both methods are called on every
// handshake, from the accepting or dialing goroutine, concurrently; the
// returned config is used for that one connection and not modified.
type Certs interface {
	// MeshServerConfig requires a client certificate of the cluster CA
	// naming a node.
	MeshServerConfig() *tls.Config
	// MeshClientConfig presents our node certificate and verifies that the
	// listener's certificate chains to the CA and names exactly expectNode.
	MeshClientConfig(expectNode string) *tls.Config
}

// TLS turns on mutual TLS for every connection of the mesh (WithTLS).
type TLS struct {
	// Node is this node's name. It travels in the preamble of every
	// connection we dial, and acceptors refuse the connection unless our
	// certificate names the same node.
	Node string
	// Certs supplies the certificates and the CA.
	Certs Certs
	// Resolve returns the name of the node whose mesh listens at addr (an
	// advertised host:port, as Raft and the other planes dial it), so that
	// a dial verifies the listener's certificate names exactly that node.
	// It is called before every dial, concurrently, and must be fast; an
	// error fails the dial (the caller retries once gossip knows the peer).
	Resolve func(addr string) (string, error)
}

func (t *TLS) validate() error {
	switch {
	case t.Node == "" || len(t.Node) > 255:
		return fmt.Errorf("%w: TLS.Node %q must be 1-255 bytes", ErrInvalidConfig, t.Node)
	case t.Certs == nil:
		return fmt.Errorf("%w: TLS.Certs is nil", ErrInvalidConfig)
	case t.Resolve == nil:
		return fmt.Errorf("%w: TLS.Resolve is nil", ErrInvalidConfig)
	}
	return nil
}

// WithTLS makes every internode connection TLS 1.3 with mutual
// authentication, completed before any preamble or class byte crosses it.
// The peer of an accepted connection is the node its certificate names
// (PeerNode); a dial verifies the listener is the node Resolve names for
// the address. Without it the mesh runs in clear (loopback dev and tests;
// config.CheckExposure refuses it elsewhere unless insecure: true).
func WithTLS(t TLS) Option {
	return func(o *options) { o.tls = &t }
}

// serverHandshake runs the TLS handshake of an accepted connection within
// the connection's deadline and returns the TLS conn and the node the
// client certificate names.
func (m *Mesh) serverHandshake(conn net.Conn) (*tls.Conn, string, error) {
	tc := tls.Server(conn, m.serverTLS)
	if err := tc.HandshakeContext(m.ctx); err != nil {
		return nil, "", &rejectError{reason: serverRejectReason(err), err: err}
	}
	node, err := pki.PeerNode(tc.ConnectionState())
	if err != nil { // VerifyConnection already required a node
		return nil, "", &rejectError{reason: RejectBadCert, err: err}
	}
	return tc, node, nil
}

// clientHandshake wraps a dialed connection in TLS and verifies that the
// listener is the node Resolve names for addr.
func (m *Mesh) clientHandshake(ctx context.Context, conn net.Conn, addr string) (*tls.Conn, error) {
	node, err := m.tls.Resolve(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownPeer, err)
	}
	if node == "" {
		return nil, fmt.Errorf("%w: no node known at %s", ErrUnknownPeer, addr)
	}
	tc := tls.Client(conn, m.tls.Certs.MeshClientConfig(node))
	hctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		if ctx.Err() != nil {
			return nil, err // closing or ClosePeer: not the peer's fault
		}
		return nil, &rejectError{reason: clientRejectReason(err), err: fmt.Errorf("dialing %s as %s: %w", addr, node, err)}
	}
	return tc, nil
}

// serverRejectReason classifies a failed server handshake. crypto/tls has
// no sentinel for a client that sent no certificate, so that one case is
// told by its text; TestMeshRefusesStrangers pins it.
func serverRejectReason(err error) RejectReason {
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &rh):
		return RejectProtocol
	case errors.Is(err, pki.ErrNoPeerCertificate), containsText(err, "didn't provide a certificate"):
		return RejectNoCert
	case errors.Is(err, pki.ErrWrongNode):
		return RejectWrongNode
	case errors.Is(err, pki.ErrNoIdentity), errors.As(err, &cv):
		return RejectBadCert
	}
	return RejectHandshake
}

// clientRejectReason classifies a failed dial handshake: the listener did
// not prove it is the node we dialed.
func clientRejectReason(err error) RejectReason {
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &rh):
		return RejectProtocol
	case errors.Is(err, pki.ErrNoPeerCertificate):
		return RejectNoCert
	case errors.Is(err, pki.ErrWrongNode):
		return RejectWrongNode
	case errors.Is(err, pki.ErrNoIdentity), errors.Is(err, pki.ErrUntrusted), errors.As(err, &cv):
		return RejectBadCert
	}
	return RejectHandshake
}

func containsText(err error, s string) bool { return strings.Contains(err.Error(), s) }

type peerNodeKey struct{}

// PeerNode returns the node named by the certificate of the peer whose
// request a Handler is serving: the peer's verified identity. It is "" when
// the mesh runs without TLS (the peer is then known only by the address it
// claims, Peer) or when ctx is not a handler's. Handlers that act on a
// sender name carried in the request compare it with PeerNode.
func PeerNode(ctx context.Context) string {
	s, _ := ctx.Value(peerNodeKey{}).(string)
	return s
}
