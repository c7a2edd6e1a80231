package main

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestE2EVoterBackOnANewAddress: three agents with the default gossip and
// Raft timings; a voter is killed and comes back with its name and data
// dir on another address (127.0.0.2), as a rescheduled pod does. It is a
// voter again at that address, and the cluster then survives the kill of
// its leader. The time it takes is logged, not asserted (measured here:
// about 7 s, the failure detector's verdict on the old address plus a
// second of reclaim); the deadline only bounds a hang.
func TestE2EVoterBackOnANewAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents")
	}
	c := newE2ECluster(t, e2eBuild(t), 3)
	for _, nd := range c.nodes {
		c.start(nd)
	}
	var leader string
	e2eWait(t, time.Now(), 30*time.Second, "three voters and a leader", func() (bool, string) {
		st, why, ok := c.status(c.nodes[0])
		if !ok {
			return false, why
		}
		leader = st.LeaderID
		return st.voters() == 3 && leader != "", fmt.Sprintf("%+v", st)
	})
	c.put(c.byName(leader), "before", "1")
	var moved *e2eNode
	for _, nd := range c.nodes {
		if nd.name != leader {
			moved = nd
			break
		}
	}
	moved.signal(t, syscall.SIGKILL)
	moved.waitExit(t, 10*time.Second)
	start := time.Now()
	c.restartAt(moved, "127.0.0.2")
	took := e2eWait(t, start, 30*time.Second, moved.name+" a voter at 127.0.0.2", func() (bool, string) {
		st, why, ok := c.status(c.byName(leader))
		if !ok {
			return false, why
		}
		for _, s := range st.Servers {
			if s.ID == moved.name {
				host, _, _ := net.SplitHostPort(s.Address)
				return s.Suffrage == "voter" && host == "127.0.0.2", fmt.Sprintf("%+v", st.Servers)
			}
		}
		return false, fmt.Sprintf("%s not in %+v", moved.name, st.Servers)
	})
	t.Logf("%s is a voter at its new address %s after its restart", moved.name, took.Round(time.Millisecond))

	old := c.byName(leader)
	old.signal(t, syscall.SIGKILL)
	old.waitExit(t, 10*time.Second)
	start = time.Now()
	var next string
	took = e2eWait(t, start, 20*time.Second, "a new leader after the leader's kill", func() (bool, string) {
		st, why, ok := c.status(moved)
		if !ok {
			return false, why
		}
		next = st.LeaderID
		return next != "" && next != leader, fmt.Sprintf("%+v", st)
	})
	c.put(c.byName(next), "after", "2")
	t.Logf("new leader %s %s after the kill of %s", next, took.Round(time.Millisecond), leader)
}
