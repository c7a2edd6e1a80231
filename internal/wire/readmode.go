package wire

// ReadMode selects how fresh a read must be. The zero value is
// ReadDefault.
type ReadMode int

const (
	// ReadDefault is served by the leader while it holds its lease: no
	// extra quorum round, and it sees every write acknowledged before it.
	ReadDefault ReadMode = iota
	// ReadStale is served from the local replica (a client node asks a
	// Raft member). It may lag the leader; it works without quorum.
	ReadStale
	// ReadConsistent is served by a leader that first verifies with a
	// quorum round that it still leads.
	ReadConsistent
)

// String returns the mode's lower-case name as used in flags and JSON.
func (m ReadMode) String() string {
	switch m {
	case ReadStale:
		return "stale"
	case ReadConsistent:
		return "consistent"
	default:
		return "default"
	}
}
