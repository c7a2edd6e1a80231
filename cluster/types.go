package cluster

import (
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// ReadMode selects how fresh a read must be (wire.ReadMode: the domains
// speak it too). The zero value is ReadDefault.
type ReadMode = wire.ReadMode

// The read modes.
const (
	ReadDefault    = wire.ReadDefault
	ReadStale      = wire.ReadStale
	ReadConsistent = wire.ReadConsistent
)

// Member is one node as this node's gossip view and Raft configuration see it.
type Member struct {
	Name          string
	Addr          string // gossip address, host:port
	State         string // alive | suspect | dead | left
	FailureDomain string
	Priority      int
	Eligible      bool
	RoleHint      string // the node's raft.role setting: auto | client
	RaftRole      string // voter | standby | client, from the Raft configuration
	InternodeAddr string
	APIAddr       string // gRPC address the node advertises
	HTTPAddr      string
	Leader        bool // this node is the Raft leader as far as we know
	ClusterID     string
	// LastSeen is when this node last saw the member alive (joined,
	// updated its meta, or answered a probe); the zero time if never.
	LastSeen time.Time
}

// RaftServer is one node of the Raft core: an entry of the Raft
// configuration (a voter or a standby), or a live client node outside it.
type RaftServer struct {
	ID            string
	Address       string // Raft address; "" for a client
	Suffrage      string // voter | nonvoter; "" for a client
	Role          string // voter | standby | client
	Leader        bool
	FailureDomain string
	Priority      int
}

// RaftStatus is this node's view of the Raft core.
type RaftStatus struct {
	Node         string
	State        string // leader | follower | candidate | shutdown | client
	Term         uint64
	LeaderID     string
	LeaderAddr   string
	ClusterID    string
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	LastContact  time.Duration // since last contact with the leader; 0 on the leader
	// Servers lists the configuration (voters, then standbys) and then the
	// live client nodes, each group by name.
	Servers []RaftServer
	// Admitted is the replicated set of servers admitted to the core
	// (raft.admission: manual), by name; empty on a client node.
	Admitted []string
}
