package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2ECluster runs the real binary as three agents on 127.0.0.1 and
// walks what an operator relies on first: formation with bootstrap_expect,
// writes through a follower, failover after kill -9 of the leader, recovery
// of the killed node from its data dir, graceful stop, and one-line errors.
// It is the Go twin of scripts/failover.sh, with free ports so it can run
// beside other tests and a developer's `make cluster`.
func TestE2ECluster(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents")
	}
	bin := e2eBuild(t)
	c := newE2ECluster(t, bin, 3)

	// 1. Formation: every node names the same leader and three voters.
	start := time.Now()
	for _, nd := range c.nodes {
		c.start(nd)
	}
	var formed e2eStatus
	took := e2eWait(t, start, 15*time.Second, "three agents agree on a leader and 3 voters", func() (bool, string) {
		leaders := map[string]bool{}
		formed = e2eStatus{}
		for _, nd := range c.nodes {
			st, why, ok := c.status(nd)
			if !ok {
				return false, nd.name + ": " + why
			}
			if st.LeaderID == "" || st.ClusterID == "" || st.voters() != 3 {
				return false, fmt.Sprintf("%s: leader %q, %d voters", nd.name, st.LeaderID, st.voters())
			}
			leaders[st.LeaderID] = true
			if st.State == "leader" {
				formed = st
			}
		}
		if len(leaders) != 1 || formed.Node == "" || !leaders[formed.Node] {
			return false, fmt.Sprintf("leaders named %v, self-declared %q", leaders, formed.Node)
		}
		return true, ""
	})
	t.Logf("formation: %s from starting the agents to leader %s (term %d) agreed by 3 voters",
		took.Round(time.Millisecond), formed.Node, formed.Term)
	leader := c.byName(formed.Node)
	var followers []*e2eNode
	for _, nd := range c.nodes {
		if nd != leader {
			followers = append(followers, nd)
		}
	}

	// 2. A write through a follower is forwarded to the leader; a default
	// (leader-lease) read on every node sees it at once.
	want := map[string]string{}
	c.put(followers[0], "e2e/greeting", "hello")
	want["e2e/greeting"] = "hello"
	for _, nd := range c.nodes {
		r := c.run("kv", "get", "e2e/greeting", "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
		if r.code != 0 || r.stdout != "hello\n" {
			t.Fatalf("kv get on %s: exit %d, stdout %q, stderr %q; want \"hello\\n\"", nd.name, r.code, r.stdout, r.stderr)
		}
	}

	// 3. Failover: kill -9 the leader; a survivor takes over and a write
	// through each survivor succeeds.
	leader.signal(t, syscall.SIGKILL)
	killed := time.Now()
	if code := leader.waitExit(t, 5*time.Second); code != -1 {
		t.Fatalf("%s after SIGKILL: exit status %d, want death by signal (-1)", leader.name, code)
	}
	var next e2eStatus
	took = e2eWait(t, killed, 10*time.Second, "a survivor becomes leader", func() (bool, string) {
		var last []string
		for _, nd := range followers {
			st, why, ok := c.status(nd)
			switch {
			case !ok:
				last = append(last, nd.name+": "+why)
			case st.State == "leader" && st.Term > formed.Term:
				next = st
				return true, ""
			default:
				last = append(last, fmt.Sprintf("%s: %s term %d", nd.name, st.State, st.Term))
			}
		}
		return false, strings.Join(last, "; ")
	})
	t.Logf("failover: %s from kill -9 of %s to %s leading (term %d)",
		took.Round(time.Millisecond), leader.name, next.Node, next.Term)
	for _, nd := range followers {
		key := "e2e/after/" + nd.name
		took := e2eWait(t, killed, 15*time.Second, "kv put through "+nd.name, func() (bool, string) {
			r := c.run("kv", "put", key, nd.name, "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
			return r.code == 0, strings.TrimSpace(r.stderr)
		})
		want[key] = nd.name
		t.Logf("failover: %s from kill -9 to a successful kv put through %s", took.Round(time.Millisecond), nd.name)
	}

	// 4. Recovery: the killed node restarts on its data dir, rejoins and
	// serves every key from its own replica.
	c.start(leader)
	restarted := time.Now()
	took = e2eWait(t, restarted, 15*time.Second, leader.name+" rejoins and lists every key", func() (bool, string) {
		st, why, ok := c.status(leader)
		if !ok {
			return false, why
		}
		if st.LeaderID != next.Node || st.voters() != 3 || st.ClusterID != formed.ClusterID {
			return false, fmt.Sprintf("leader %q (want %q), %d voters, cluster ID %q (want %q)",
				st.LeaderID, next.Node, st.voters(), st.ClusterID, formed.ClusterID)
		}
		r := c.run("kv", "list", "--mode", "stale", "-o", "json", "--addr", leader.grpcAddr, "--timeout", e2eCallTimeout)
		if r.code != 0 {
			return false, strings.TrimSpace(r.stderr)
		}
		var entries []e2eKV
		if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
			return false, fmt.Sprintf("bad json: %v: %q", err, r.stdout)
		}
		got := map[string]string{}
		for _, e := range entries {
			if e.Value != nil {
				got[e.Key] = *e.Value
			}
		}
		for k, v := range want {
			if got[k] != v {
				return false, fmt.Sprintf("stale list %v, want %v", got, want)
			}
		}
		return true, ""
	})
	t.Logf("recovery: %s from restarting %s to it listing all %d keys from its own replica",
		took.Round(time.Millisecond), leader.name, len(want))

	// 5. Graceful stop: SIGTERM the current leader, the node with the
	// most to do on the way out (hand leadership off, leave gossip).
	stopping := c.byName(next.Node)
	stopping.signal(t, syscall.SIGTERM)
	termed := time.Now()
	if code := stopping.waitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("%s after SIGTERM: exit status %d, want 0", stopping.name, code)
	}
	t.Logf("stop: %s exited 0 %s after SIGTERM", stopping.name, time.Since(termed).Round(time.Millisecond))

	// 6. Bad input fails with one line that names the problem.
	// Every port 0: the agent must refuse the config before it binds any.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	cfg := e2eNodeConfig("bad", filepath.Join(dir, "data"), 0, 0, 0, 0, nil, 4)
	if err := os.WriteFile(bad, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.run("agent", "--config", bad)
	if r.code == 0 || !e2eOneLine(r.stderr) || !strings.Contains(r.stderr, "cluster.raft.max_voters") {
		t.Errorf("agent with max_voters 4: exit %d, stderr %q; want non-zero and one line naming cluster.raft.max_voters",
			r.code, r.stderr)
	}
	live := leader // restarted above and still running
	r = c.run("kv", "get", "nosuchkey", "--addr", live.grpcAddr, "--timeout", e2eCallTimeout)
	if r.code == 0 || !e2eOneLine(r.stderr) || !strings.Contains(r.stderr, "NotFound") {
		t.Errorf("kv get nosuchkey on %s: exit %d, stderr %q; want non-zero and one line with NotFound",
			live.name, r.code, r.stderr)
	}
}
