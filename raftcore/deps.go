package raftcore

import (
	"context"

	"github.com/hashicorp/raft"
)

// BootstrapState is what a node advertises about its part in forming a cluster.
type BootstrapState uint8

const (
	// BootstrapNone: not taking part (bootstrap_expect 0) and no Raft state yet.
	BootstrapNone BootstrapState = iota
	// BootstrapPending: waiting to bootstrap with Expect peers.
	BootstrapPending
	// BootstrapDone: has Raft state, or belongs to a formed cluster.
	BootstrapDone
)

// Peer is what raftcore reads of one node in the membership view. cluster
// fills it from gossip; raftcore never imports gossip.
type Peer struct {
	ID        string
	Addr      string // Raft (internode) address, host:port
	Alive     bool
	Eligible  bool // may vote: raft.eligible and role not client
	Priority  int  // raft.priority: lower is preferred for a seat
	Domain    string
	Expect    int // the peer's bootstrap_expect
	Bootstrap BootstrapState
	Nonce     string // per-process random, minted into the cluster ID
	ClusterID string
	Leader    string // the Raft leader ID the peer knows, "" if none
	Term      uint64 // the term of that knowledge
}

// View is the membership view raftcore reads.
type View interface {
	// Peers returns every known node, this one included. Called from
	// raftcore's loops, never from Raft's own goroutines; must not block.
	Peers() []Peer
}

// Advert is what this node publishes about its Raft state, for peers'
// bootstrap decisions and for clients that need to find the leader.
type Advert struct {
	Bootstrap BootstrapState
	Nonce     string
	ClusterID string
	Leader    string
	Term      uint64
}

// Publisher makes an Advert visible to peers (cluster writes it into the
// node's gossip metadata).
type Publisher interface {
	// Publish is called from raftcore's advertise loop whenever the advert
	// changes; it may block briefly (a gossip broadcast).
	Publish(ctx context.Context, a Advert)
}

// Requester sends a request to the peer at the Raft address addr and waits
// for its reply; the peer answers with Core.HandleForward.
type Requester interface {
	// Request is called concurrently by callers of Apply and Query. It must
	// honour ctx, and wrap ErrNotSent when the request surely did not reach
	// the peer. The returned slice is owned by the caller.
	Request(ctx context.Context, addr string, req []byte) ([]byte, error)
}

// Querier answers a read against the local FSM. It is called concurrently
// with Apply on the FSM, so it must do its own locking. The query and the
// answer are opaque to raftcore (they may cross the wire to another node).
type Querier interface {
	Query(q []byte) ([]byte, error)
}

// Screener vets a command on the leader before it is proposed, whichever
// node it came from (this node's Apply or a peer's forwarded request), so
// that a command over a limit never enters the log. The FSM must refuse the
// same commands at apply as well: a screen is a first line, not the only one.
type Screener interface {
	// Screen is called concurrently by the leader's Apply and by forwarded
	// requests; it must not block and must not keep cmd. It returns nil to
	// propose cmd, or the answer to give the proposer instead, in the FSM's
	// own result form (what Apply would return refusing it).
	Screen(cmd []byte) []byte
}

// Deps are the collaborators a Core is built from.
type Deps struct {
	// FSM applies committed commands. Its Apply (or ApplyBatch) must return
	// a []byte response (nil is fine), which raftcore hands back to the
	// proposer, possibly over the wire. Any other response is an error.
	FSM raft.FSM
	// Querier reads the FSM for Query.
	Querier Querier
	// Streams carries Raft RPCs (the internode mesh's raft class).
	Streams raft.StreamLayer
	// View is the membership view (gossip).
	View View
	// Requester forwards proposals and reads to the leader.
	Requester Requester
	// Publisher advertises bootstrap state, cluster ID and leader.
	Publisher Publisher
	// Screener, if set, vets every command before the leader proposes it.
	Screener Screener
	// Admissions is the admitted set, registered in the FSM by the caller
	// (AdmissionTableID); required with Config.ManualAdmission, unused
	// otherwise.
	Admissions *Admissions
}
