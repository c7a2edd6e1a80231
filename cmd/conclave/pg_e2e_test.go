package main

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var joinedRE = regexp.MustCompile(`joined chat as (\S+)`)

// TestE2EProcessGroups is the issue's Done-when on real agents: `pg
// monitor chat` on one node shows the joins made by `pg join chat` on the
// other two, a broadcast from any node is printed by every member, and an
// interrupted join leaves (the monitor prints it) and exits 0.
func TestE2EProcessGroups(t *testing.T) {
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
		for _, nd := range c.nodes {
			st, why, ok := c.status(nd)
			if !ok {
				return false, nd.name + ": " + why
			}
			if st.LeaderID == "" || st.voters() != 3 {
				return false, fmt.Sprintf("%s: leader %q, %d voters", nd.name, st.LeaderID, st.voters())
			}
		}
		return true, ""
	})
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	mon := c.startCLI("pg", "monitor", "chat", "--addr", n1.grpcAddr)
	// A probe member on the monitor's own node proves the watch is live
	// before the joins that matter.
	probe := c.startCLI("pg", "join", "chat", "--addr", n1.grpcAddr)
	probePID := waitJoined(t, probe)
	e2eWait(t, time.Now(), 10*time.Second, "the monitor shows the probe", func() (bool, string) {
		// As a join, or among the first members if the watch started later.
		out := mon.out.String()
		return strings.Contains(out, "join "+probePID+"\n") || strings.Contains(out, "member "+probePID+"\n"), out + mon.errOut.String()
	})

	j2 := c.startCLI("pg", "join", "chat", "--addr", n2.grpcAddr)
	j3 := c.startCLI("pg", "join", "chat", "--addr", n3.grpcAddr)
	pid2, pid3 := waitJoined(t, j2), waitJoined(t, j3)
	if !strings.HasPrefix(pid2, n2.name+"/") || !strings.HasPrefix(pid3, n3.name+"/") {
		t.Fatalf("PIDs %s, %s: not of the nodes joined through", pid2, pid3)
	}
	e2eWait(t, time.Now(), 10*time.Second, "the monitor on node-1 shows both joins", func() (bool, string) {
		out := mon.out.String()
		return strings.Contains(out, "join "+pid2+"\n") && strings.Contains(out, "join "+pid3+"\n"), out
	})
	e2eWait(t, time.Now(), 10*time.Second, "node-1 lists the three members", func() (bool, string) {
		r := c.run("pg", "members", "chat", "--addr", n1.grpcAddr, "--timeout", e2eCallTimeout)
		return r.code == 0 && strings.Count(r.stdout, "\n") == 4, r.stdout + r.stderr
	})

	members := []*e2eCLI{probe, j2, j3}
	for i, nd := range c.nodes {
		msg := fmt.Sprintf("hello %d from %s", i, nd.name)
		r := c.run("pg", "broadcast", "chat", msg, "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
		if r.code != 0 || r.stdout != "sent to 3 members on 3 nodes\n" {
			t.Fatalf("broadcast from %s: exit %d, stdout %q, stderr %q", nd.name, r.code, r.stdout, r.stderr)
		}
		for _, m := range members {
			e2eWait(t, time.Now(), 10*time.Second, "every member prints "+msg, func() (bool, string) {
				return strings.Contains(m.out.String(), msg+"\n"), m.out.String()
			})
		}
	}
	for _, m := range members {
		if lines := strings.Count(m.out.String(), "\n"); lines != 3 {
			t.Fatalf("a member printed %d lines, want exactly the 3 messages: %q", lines, m.out.String())
		}
	}

	if err := j3.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := j3.wait(t); code != 0 {
		t.Fatalf("pg join after SIGINT: exit %d, stderr %q", code, j3.errOut.String())
	}
	e2eWait(t, time.Now(), 10*time.Second, "the monitor shows the leave", func() (bool, string) {
		return strings.Contains(mon.out.String(), "leave "+pid3+"\n"), mon.out.String()
	})
}

// waitJoined waits for a `pg join` to report its PID on stderr.
func waitJoined(t *testing.T, p *e2eCLI) string {
	t.Helper()
	var pid string
	e2eWait(t, time.Now(), 10*time.Second, "pg join reports its session", func() (bool, string) {
		m := joinedRE.FindStringSubmatch(p.errOut.String())
		if m == nil {
			return false, p.errOut.String()
		}
		pid = m[1]
		return true, ""
	})
	return pid
}
