// Package pki is conclave's small certificate toolkit: it mints a cluster CA
// and node or client certificates (`conclave tls ...`), names a node in a
// certificate, and turns PEM files on disk into crypto/tls configurations
// that pick up replaced files without a restart.
//
// Identity: a node certificate carries the URI SAN spiffe://conclave/node/NAME
// (NodeURI). That URI, not the DNS names or the common name, is what the
// internode mesh compares with the node name a peer claims in gossip and as
// its Raft server ID. Client certificates carry
// spiffe://conclave/client/NAME and no node URI, so a client certificate can
// reach the API but never the mesh.
//
// It is a leaf: it imports nothing of ours, holds no goroutines, and keeps
// no state beyond a Source's cached files. Source methods are safe for
// concurrent use; TLS handshakes on any goroutine call into them.
package pki
