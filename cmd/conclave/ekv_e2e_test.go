package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EEventualKV runs the real binary as three agents: with the other
// two stopped (SIGSTOP), the remaining node has no majority, a Raft put
// through it fails, and `kv put --store eventual` through it succeeds;
// once the others run again (SIGCONT) the value reaches every node, timed.
func TestE2EEventualKV(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents")
	}
	bin := e2eBuild(t)
	c := newE2ECluster(t, bin, 3)
	start := time.Now()
	for _, nd := range c.nodes {
		c.start(nd)
	}
	e2eWait(t, start, 15*time.Second, "three agents agree on a leader and 3 voters", func() (bool, string) {
		leaders := map[string]bool{}
		for _, nd := range c.nodes {
			st, why, ok := c.status(nd)
			if !ok {
				return false, nd.name + ": " + why
			}
			if st.LeaderID == "" || st.voters() != 3 {
				return false, fmt.Sprintf("%s: leader %q, %d voters", nd.name, st.LeaderID, st.voters())
			}
			leaders[st.LeaderID] = true
		}
		return len(leaders) == 1, fmt.Sprintf("leaders named %v", leaders)
	})
	cut, others := c.nodes[0], c.nodes[1:]

	// Bad input is refused naming the flag, before any call.
	if r := c.run("kv", "put", "k", "v", "--store", "gossip", "--addr", cut.grpcAddr); r.code == 0 || !strings.Contains(r.stderr, "--store") {
		t.Fatalf("--store gossip: exit %d, stderr %q", r.code, r.stderr)
	}

	for _, nd := range others {
		nd.signal(t, syscall.SIGSTOP)
	}
	if r := c.run("kv", "put", "raft/k", "v", "--addr", cut.grpcAddr, "--timeout", "2s"); r.code == 0 {
		t.Fatalf("a Raft put on a node cut off from the majority succeeded: %q", r.stdout)
	}
	r := c.run("kv", "put", "--store", "eventual", "cut/k", "from-the-minority", "--addr", cut.grpcAddr, "--timeout", e2eCallTimeout)
	if r.code != 0 || !strings.Contains(r.stdout, cut.name) {
		t.Fatalf("eventual put on the cut-off node: exit %d, stdout %q, stderr %q; want success naming %s as origin", r.code, r.stdout, r.stderr, cut.name)
	}
	if r := c.run("kv", "get", "--store", "eventual", "cut/k", "--addr", cut.grpcAddr, "--timeout", e2eCallTimeout); r.code != 0 || r.stdout != "from-the-minority\n" {
		t.Fatalf("eventual get on the cut-off node: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	healed := time.Now()
	for _, nd := range others {
		nd.signal(t, syscall.SIGCONT)
	}
	// Bound: gossip rounds, or at worst the production push/pull (30 s).
	took := e2eWait(t, healed, 60*time.Second, "the eventual value on every node", func() (bool, string) {
		for _, nd := range c.nodes {
			r := c.run("kv", "get", "--store", "eventual", "cut/k", "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
			if r.code != 0 || r.stdout != "from-the-minority\n" {
				return false, fmt.Sprintf("%s: exit %d, stdout %q, stderr %q", nd.name, r.code, r.stdout, r.stderr)
			}
		}
		return true, ""
	})
	t.Logf("the cut-off node's eventual write reached every node %s after SIGCONT", took.Round(time.Millisecond))
}
