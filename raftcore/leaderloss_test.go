package raftcore

import (
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// logRaft is a follower of n1 in term 5 whose log ends at (lastTerm,
// lastIndex).
type logRaft struct {
	raftNode            // nil: any other method panics
	lastTerm, lastIndex uint64
}

func (l logRaft) LeaderWithID() (raft.ServerAddress, raft.ServerID) { return "a1", "n1" }
func (l logRaft) CurrentTerm() uint64                               { return 5 }
func (l logRaft) LastContact() time.Time                            { return time.Now() }
func (l logRaft) LastIndex() uint64                                 { return l.lastIndex }
func (l logRaft) Stats() map[string]string {
	return map[string]string{"last_log_term": strconv.FormatUint(l.lastTerm, 10)}
}

// The voters rank themselves for a fast election by log, then by ID: a
// voter with a shorter log never goes first, whatever its ID, and counts
// only the votes of voters whose log is not longer; answers of another
// term do not count, and a voter that answers without its log (an older
// version) is taken as level.
func TestFailoverRank(t *testing.T) {
	c := &Core{cfg: Config{NodeID: "n2", HeartbeatTimeout: time.Second}, now: time.Now, raft: logRaft{lastTerm: 5, lastIndex: 100}}
	other := func(id string, term, lastTerm, lastIndex uint64) contact {
		return contact{term: term, from: raft.ServerID(id), hasLog: true, lastTerm: lastTerm, lastIndex: lastIndex}
	}
	for _, tc := range []struct {
		name         string
		others       []contact
		rank, grants int
	}{
		{"alone", nil, 0, 1},
		{"level, higher ID", []contact{other("n3", 5, 5, 100)}, 0, 2},
		{"level, lower ID", []contact{other("n0", 5, 5, 100)}, 1, 2},
		{"longer log, higher ID", []contact{other("n3", 5, 5, 101)}, 1, 1},
		{"shorter log, lower ID", []contact{other("n0", 5, 5, 99)}, 0, 2},
		{"later last term, shorter log", []contact{other("n3", 5, 6, 90)}, 1, 1},
		{"earlier last term, longer log", []contact{other("n0", 5, 4, 120)}, 0, 2},
		{"another term", []contact{other("n0", 6, 6, 200)}, 0, 1},
		{"no log, lower ID", []contact{{term: 5, from: "n0"}}, 1, 2},
		{"no log, higher ID", []contact{{term: 5, from: "n3"}}, 0, 2},
		{"two ahead", []contact{other("n3", 5, 5, 101), other("n4", 5, 5, 102)}, 2, 1},
		{"one ahead, one behind", []contact{other("n3", 5, 5, 101), other("n4", 5, 5, 99)}, 1, 2},
	} {
		if rank, grants := c.failoverRank(tc.others, 5); rank != tc.rank || grants != tc.grants {
			t.Errorf("%s: rank %d, grants %d; want %d, %d", tc.name, rank, grants, tc.rank, tc.grants)
		}
	}
}
