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
// Wire format (version 1):
//
//	connection: "CNCL" 0x01 len(addr) addr   then yamux (dialer = client)
//	stream:     class byte (bit 0x80 = one-way send)
//	request:    uvarint length, bytes
//	reply:      status byte (0 ok, 1 handler error, 2 refused), uvarint length, bytes
//
// The preamble carries the dialer's advertised address so that the acceptor
// can name the peer behind an inbound session: ClosePeer needs it, because
// the dialer's source port says nothing about which node it is. Sessions are
// used one way: only the dialer opens streams. Each node therefore holds at
// most one outbound session per peer and accepts the peer's session for the
// other direction, and ClosePeer closes exactly the sessions of that peer.
//
// Goroutines: one accept loop for the listener, one per connection during
// the preamble, one per inbound session (accepting its streams), one per
// accepted stream (a handler call, or a hand-off to a StreamLayer), one per
// outbound session (dialing, then watching it to forget it when it dies).
// yamux adds its own per session. Close stops all of them and waits. Handle,
// StreamLayer, Request, Send, ClosePeer and Stats may be called from any
// goroutine; Handlers run concurrently, one goroutine per request.
package internode
