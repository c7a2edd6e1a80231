package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EServices runs the real binary as three agents: two `service run
// api` on two nodes are both listed from the third; killing one's command
// removes its instance (its session ends with the command), and service
// run exits with the command's status.
func TestE2EServices(t *testing.T) {
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

	// Each command prints its shell's PID, then becomes a sleep.
	runs := map[string]*e2eCLI{}
	for i, id := range []string{"a", "b"} {
		runs[id] = c.startCLI("service", "run", "api", "--id", id, "--endpoint", fmt.Sprintf("127.0.0.1:%d", 18080+i),
			"--protocol", "http", "--tag", "e2e", "--addr", c.nodes[i].grpcAddr, "--", "sh", "-c", `echo "$$"; exec sleep 60`)
	}
	pidOf := func(r *e2eCLI) int {
		var pid int
		e2eWait(t, time.Now(), 20*time.Second, "service run starts its command", func() (bool, string) {
			line, _, ok := strings.Cut(r.out.String(), "\n")
			if !ok {
				return false, fmt.Sprintf("stdout %q, stderr %q", r.out.String(), r.errOut.String())
			}
			var err error
			pid, err = strconv.Atoi(line)
			return err == nil, line
		})
		return pid
	}
	pidA := pidOf(runs["a"])
	pidOf(runs["b"])

	list := func() (map[string]string, string) {
		r := c.run("service", "list", "api", "-o", "json", "--addr", c.nodes[2].grpcAddr)
		if r.code != 0 {
			return nil, strings.TrimSpace(r.stderr)
		}
		var insts []instanceJSON
		if err := json.Unmarshal([]byte(r.stdout), &insts); err != nil {
			t.Fatalf("service list -o json: %q: %v", r.stdout, err)
		}
		nodes := map[string]string{}
		var ids []string
		for _, in := range insts {
			nodes[in.ID] = in.Node + " " + in.Health
			ids = append(ids, in.ID)
		}
		sort.Strings(ids)
		return nodes, strings.Join(ids, ",")
	}
	e2eWait(t, time.Now(), 20*time.Second, "service list api from node-3 shows a and b", func() (bool, string) {
		nodes, ids := list()
		return ids == "a,b" && nodes["a"] == "node-1 passing" && nodes["b"] == "node-2 passing", fmt.Sprintf("%s %v", ids, nodes)
	})
	if r := c.run("service", "list", "api", "--addr", c.nodes[2].grpcAddr); r.code != 0 ||
		!strings.Contains(r.stdout, "127.0.0.1:18080") || !strings.Contains(r.stdout, "127.0.0.1:18081") {
		t.Fatalf("service list api: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Killing a's command ends service run with its status, and its
	// session with it: the instance goes.
	killed := time.Now()
	if err := syscall.Kill(pidA, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := runs["a"].wait(t); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("service run a: exit %d after its command was killed, stderr %q", code, runs["a"].errOut.String())
	}
	took := e2eWait(t, killed, 20*time.Second, "service list api shows only b", func() (bool, string) {
		_, ids := list()
		return ids == "b", ids
	})
	t.Logf("instance a gone %s after its command was killed", took.Round(time.Millisecond))

	// SIGTERM to service run goes to its command; the instance goes too.
	if err := runs["b"].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := runs["b"].wait(t); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("service run b: exit %d after SIGTERM, stderr %q", code, runs["b"].errOut.String())
	}
	e2eWait(t, time.Now(), 20*time.Second, "service list api is empty", func() (bool, string) {
		_, ids := list()
		return ids == "", ids
	})
}
