package health

import "time"

// Gossip is the gossip membership as the checks read it; cluster implements
// it over gossip.Membership. Its methods are called concurrently from HTTP
// handler goroutines and must not block.
type Gossip interface {
	// HealthScore is memberlist's awareness score: 0 is healthy, higher
	// means this node misses its own probe deadlines.
	HealthScore() int
	// NumAlive is the number of members alive in gossip, this node
	// included.
	NumAlive() int
	// AdvertisedLeader is the Raft leader that alive members advertise in
	// gossip (the one with the highest term), "" if none does. Client
	// nodes know the leader only this way.
	AdvertisedLeader() string
}

// Raft is the Raft core as the checks and the sampler read it; cluster
// implements it over raftcore.Core. Its methods are called concurrently
// (HTTP handler goroutines, Run) and must not block.
type Raft interface {
	// Status reports the node's Raft state now. The returned value is the
	// caller's.
	Status() RaftStatus
	// CommitIndex is the index of the last entry known committed. Run
	// samples it every Config.FSMSample.
	CommitIndex() uint64
}

// RaftStatus is the part of the Raft state the checks read.
type RaftStatus struct {
	State        string // leader | follower | candidate | shutdown
	Member       bool   // in the Raft configuration; false on a client node
	LeaderID     string // "" when no leader is known
	Term         uint64
	LastContact  time.Duration // since the leader was last heard; 0 on the leader, or if never in contact
	AppliedIndex uint64
	CommitIndex  uint64
	Servers      []Server // the Raft configuration
}

// Server is one server of the Raft configuration.
type Server struct {
	ID       string // node name
	Suffrage string // voter | nonvoter
}

// Groups is the process-group service as the groups_heartbeat check reads
// it; cluster implements it over pg.Service. Called concurrently from HTTP
// handler goroutines; must not block.
type Groups interface {
	// LastBeat returns the peer whose heartbeat this node received last and
	// when; the zero time if none yet.
	LastBeat() (peer string, at time.Time)
}

// Disk reads the space of a filesystem for the disk_free check; StatfsDisk
// is the real one. Called concurrently from HTTP handler goroutines.
type Disk interface {
	// Free returns the bytes available to this process (not root's
	// reserve) and the size of the filesystem holding path.
	Free(path string) (free, total uint64, err error)
}

// Clock is the Checker's time: the start of the boot grace, the time the
// checks are run at, and the sampler's interval. Safe for concurrent use.
type Clock interface {
	Now() time.Time
	// After delivers the time once, d from now.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
