package internode

import (
	"errors"
	"net"
)

// RejectReason says why the mesh closed a peer's connection, session or
// stream before serving it. Values are the label of
// conclave_internode_rejected_total{reason}.
type RejectReason string

// The reasons, in the order Stats lists them.
const (
	// RejectNoCert: the peer presented no certificate.
	RejectNoCert RejectReason = "no_cert"
	// RejectBadCert: a certificate not of the cluster CA, expired, or
	// naming no node (an API client certificate).
	RejectBadCert RejectReason = "bad_cert"
	// RejectWrongNode: a valid node certificate that names another node
	// than the one the peer claims in its preamble, or than the one we
	// dialed.
	RejectWrongNode RejectReason = "wrong_node"
	// RejectHandshake: the TLS handshake failed otherwise or did not finish
	// within DialTimeout.
	RejectHandshake RejectReason = "handshake"
	// RejectProtocol: not the mesh protocol: plain bytes on a TLS port, or
	// a bad preamble (port scanners, HTTP clients, another version).
	RejectProtocol RejectReason = "protocol"
	// RejectLimit: over a cap: a stream that could not get buffer for its
	// frame before its deadline, a session beyond maxSessionsPerPeer (the
	// oldest is closed), or a connection beyond maxPendingConns.
	RejectLimit RejectReason = "limit"
)

// RejectReasons lists every reason, for exporters that want all labels
// present from the start.
var RejectReasons = [...]RejectReason{RejectNoCert, RejectBadCert, RejectWrongNode, RejectHandshake, RejectProtocol, RejectLimit}

func (r RejectReason) index() int {
	for i, v := range RejectReasons {
		if v == r {
			return i
		}
	}
	return len(RejectReasons) - 1
}

// rejectError carries why a connection was refused to where it is counted.
type rejectError struct {
	reason RejectReason
	err    error
}

func (e *rejectError) Error() string { return string(e.reason) + ": " + e.err.Error() }
func (e *rejectError) Unwrap() error { return e.err }

// reject counts a refused connection or stream and logs it, rate-limited.
func (m *Mesh) reject(reason RejectReason, remote net.Addr, peer string, err error) {
	n := m.st.rejected[reason.index()].Add(1)
	if m.lim.reject.allow() {
		e := m.log.Warn().Str("reason", string(reason)).Err(err).Uint64("total", n)
		if remote != nil {
			e = e.Str("remote", remote.String())
		}
		if peer != "" {
			e = e.Str("peer", peer)
		}
		e.Msg("peer rejected")
	}
}

// rejectReasonOf returns the reason an error carries, if any.
func rejectReasonOf(err error) (RejectReason, bool) {
	var re *rejectError
	if errors.As(err, &re) {
		return re.reason, true
	}
	return "", false
}
