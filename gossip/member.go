package gossip

import (
	"fmt"
	"time"
)

// State is a member's liveness as this node knows it.
type State string

const (
	// StateAlive: answering probes (or not yet found otherwise).
	StateAlive State = "alive"
	// StateSuspect is declared for status output and metrics; memberlist
	// v0.6.0 does not report suspicion to delegates, so the view never holds it.
	StateSuspect State = "suspect"
	// StateDead: declared failed by the failure detector.
	StateDead State = "dead"
	// StateLeft: departed with a graceful Leave.
	StateLeft State = "left"
)

// Member is one node of the view. Values are snapshots: changing one changes
// nothing in the Membership.
type Member struct {
	Name  string
	Addr  string // gossip host:port
	State State
	Meta  Meta
	// MetaValid is false when the peer's meta failed to decode (counted in
	// Stats.MalformedMeta and logged); Meta is then the zero value.
	MetaValid bool
	// LastSeen is the last time the member was seen alive: when it joined,
	// updated its meta, or acknowledged one of our probes.
	LastSeen time.Time
}

// EventKind says what happened to a member.
type EventKind int

const (
	// NodeJoined: a node became alive (new, or back from dead/left).
	NodeJoined EventKind = iota + 1
	// NodeLeft: a node departed gracefully.
	NodeLeft
	// NodeFailed: a node was declared dead by the failure detector.
	NodeFailed
	// NodeUpdated: a live node changed its meta.
	NodeUpdated
)

// String names the kind for logs.
func (k EventKind) String() string {
	switch k {
	case NodeJoined:
		return "joined"
	case NodeLeft:
		return "left"
	case NodeFailed:
		return "failed"
	case NodeUpdated:
		return "updated"
	default:
		return fmt.Sprintf("event(%d)", int(k))
	}
}

// Event is one membership change, with the member as it was right after it.
type Event struct {
	Kind   EventKind
	Member Member
}
