// Package internode is the node-to-node mesh (DESIGN §1, §2, §11): one TCP
// listener per node, one hashicorp/yamux session per peer, and streams that
// each start with a one-byte Class saying what they carry.
//
// It owns the listener (with the auto port of 7950-7959), the outbound and
// inbound yamux sessions, the connection preamble, stream framing and the
// per-class dispatch. It gives raftcore a raft.StreamLayer per class (Raft's
// NetworkTransport runs over ClassRaft streams unchanged), and gives everyone
// else request/reply (Request + Handle) and one-way sends (Send) by class.
// It does not own what travels on a class: forwarding, process groups and
// acks encode their own payloads. It imports nothing of ours.
//
// Wire format (version 2):
//
//	connection: [TLS 1.3, mutual]  "CNCL" 0x02 len(addr) addr len(node) node
//	            then yamux (dialer = client)
//	stream:     request, then (bit 0x40) further requests, one at a time
//	request:    head byte: class (below 0x40), bit 0x80 = one-way send,
//	            bit 0x40 = keep-open: after the reply the stream carries the
//	            next request of the same class, with the same head byte
//	            uvarint length, bytes
//	reply:      status byte (0 ok, 1 handler error, 2 refused), uvarint length, bytes
//
// Request keeps a few idle keep-open streams per peer and class and reuses
// one for the next request while it has been idle for less than half of
// StreamIdleTimeout and the peer has not closed it; the peer closes a
// stream that stays idle for StreamIdleTimeout. Only a request answered in
// full (ok or handler error) leaves its stream reusable. A yamux data
// frame's header and body go out in one write (joinConn).
//
// With WithTLS, every connection is TLS 1.3 with a certificate of the
// cluster CA on both sides, and the handshake completes before any byte of
// the preamble is read: a peer is the node its certificate names
// (PeerNode), the node name in its preamble must be that node, and a
// dialer verifies that the listener is the node it meant to reach
// (TLS.Resolve maps the address to a node). A peer that fails is closed and
// counted by RejectReason. Without TLS the node field is empty and the
// mesh trusts whoever connects (loopback dev and tests).
//
// The preamble carries the dialer's advertised address so that the acceptor
// can name the peer behind an inbound session: ClosePeer needs it, because
// the dialer's source port says nothing about which node it is. Sessions are
// used one way: only the dialer opens streams. Each node therefore holds at
// most one outbound session per peer and accepts the peer's session for the
// other direction, and ClosePeer closes exactly the sessions of that peer.
//
// Per-peer caps (a peer being a verified node, or a claimed address in
// clear): at most MaxStreamsPerPeer streams served at once, further ones
// waiting unaccepted in yamux; at most PeerBufferBytes of request frames
// held, reserved from the length prefix before the body is read; a frame
// must arrive within StreamIdleTimeout of its stream; at most two inbound
// sessions, a third closing the oldest.
//
// Goroutines: one accept loop for the listener, one per connection during
// the preamble, one per inbound session (accepting its streams), one per
// accepted stream (its handler calls, one after the other, or a hand-off to
// a StreamLayer), one per
// outbound session (dialing, then watching it to forget it when it dies).
// yamux adds its own per session. Close stops all of them and waits. Handle,
// StreamLayer, Request, Send, ClosePeer and Stats may be called from any
// goroutine; Handlers run concurrently, one goroutine per stream (the
// requests of one kept-open stream run in turn).
package internode
