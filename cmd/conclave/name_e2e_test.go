package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2ENames runs the real binary as three agents and checks the names
// contract from the CLI: two nodes registering one consistent name at once
// give exactly one winner and one AlreadyExists naming it; a strong
// registration with a node stopped (SIGSTOP) fails after the deadline
// naming that node, and succeeds once it answers again.
func TestE2ENames(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents")
	}
	bin := e2eBuild(t)
	c := newE2ECluster(t, bin, 3)
	start := time.Now()
	for _, nd := range c.nodes {
		c.start(nd)
	}
	var leader string
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
			leader = st.LeaderID
		}
		return len(leaders) == 1, fmt.Sprintf("leaders named %v", leaders)
	})
	var followers []*e2eNode
	for _, nd := range c.nodes {
		if nd.name != leader {
			followers = append(followers, nd)
		}
	}
	lead := c.byName(leader)

	// 1. Two nodes at once: one winner, one AlreadyExists naming it.
	a := c.startCLI("name", "register", "svc/billing", "--scope", "consistent", "--hold", "3s", "--addr", followers[0].grpcAddr)
	b := c.startCLI("name", "register", "svc/billing", "--scope", "consistent", "--hold", "3s", "--addr", followers[1].grpcAddr)
	codeA, codeB := a.wait(t), b.wait(t)
	winner, loser := a, b
	if codeA != 0 {
		winner, loser = b, a
		codeA, codeB = codeB, codeA
	}
	if codeA != 0 || codeB != 1 {
		t.Fatalf("exits %d and %d, want one 0 and one 1; stderr %q / %q", codeA, codeB, a.errOut.String(), b.errOut.String())
	}
	fields := strings.Fields(winner.out.String()) // registered NAME scope S pid P
	if len(fields) != 6 || fields[0] != "registered" {
		t.Fatalf("winner printed %q", winner.out.String())
	}
	pid := fields[5]
	if msg := loser.errOut.String(); !e2eOneLine(msg) || !strings.Contains(msg, "AlreadyExists") || !strings.Contains(msg, pid) {
		t.Fatalf("loser: %q, want one AlreadyExists line naming %s", msg, pid)
	}

	// 2. Strong with one node stopped: expires naming it.
	stopped := followers[0]
	stopped.signal(t, syscall.SIGSTOP)
	t0 := time.Now()
	r := c.run("name", "register", "svc/leader", "--scope", "strong", "--hold", "1ms", "--addr", lead.grpcAddr, "--timeout", "20s")
	took := time.Since(t0)
	stopped.signal(t, syscall.SIGCONT)
	if r.code != 1 || !e2eOneLine(r.stderr) || !strings.Contains(r.stderr, "DeadlineExceeded") || !strings.Contains(r.stderr, stopped.name) {
		t.Fatalf("strong with %s stopped: exit %d, stderr %q", stopped.name, r.code, r.stderr)
	}
	t.Logf("strong registration refused after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(r.stderr))

	// 3. Once the node answers again, the same registration succeeds.
	e2eWait(t, time.Now(), 20*time.Second, "strong registration after SIGCONT", func() (bool, string) {
		r := c.run("name", "register", "svc/leader", "--scope", "strong", "--hold", "1ms", "--addr", lead.grpcAddr, "--timeout", "20s")
		return r.code == 0, strings.TrimSpace(r.stderr)
	})
}
