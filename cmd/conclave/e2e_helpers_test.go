package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helpers here drive real `conclave` processes for e2e_test.go. Names
// carry an e2e prefix so they never clash with the in-process CLI tests of
// this package.

const (
	// e2ePoll is how often a wait re-checks its condition: each check
	// spawns CLI processes, so much faster only burns the two cores the
	// agents need, much slower blurs the measured times.
	e2ePoll = 50 * time.Millisecond
	// e2eCallTimeout is the --timeout of a polling CLI call: short, so a
	// dead or electing node costs one poll, not the whole deadline.
	e2eCallTimeout = "2s"
	// e2eHardTimeout bounds any one CLI process, well above every
	// --timeout the test passes, so only a hang hits it.
	e2eHardTimeout = 15 * time.Second
	// e2eLogTail is how much of each agent's log a failing test prints.
	e2eLogTail = 40
)

// e2eBuild compiles this package's binary once into a temp dir. The agent
// does not need the race detector (the test binary has it), so this is a
// plain build and mostly served from the build cache.
func e2eBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "conclave")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2ePorts returns n distinct free TCP ports on 127.0.0.1 that are also free
// for UDP (gossip binds both on one port). Every listener stays open until
// all n are chosen so the kernel cannot hand out one port twice; the window
// between closing them and the agents binding is the remaining (small) risk.
func e2ePorts(t *testing.T, n int) []int {
	t.Helper()
	var (
		ports   []int
		closers []func() error
	)
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 10*n {
			t.Fatalf("no %d free ports on 127.0.0.1 after %d attempts", n, attempts)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		closers = append(closers, l.Close)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // UDP side taken: skip this port, keep the TCP one held
		}
		closers = append(closers, u.Close)
		ports = append(ports, port)
	}
	return ports
}

// e2eNode is one agent: its config on disk and, while it runs, its process.
type e2eNode struct {
	name     string
	cfgPath  string
	logPath  string
	grpcAddr string

	// cmd and done belong to the current run; only the test goroutine
	// touches them. done closes once the process has been reaped, after
	// which cmd.ProcessState is safe to read.
	cmd  *exec.Cmd
	done chan struct{}
}

// e2eNodeConfig is the YAML of one node; every port is explicit (see
// deploy/local/node1.yaml) so three agents on one host never race for the
// internode auto range.
func e2eNodeConfig(name, dataDir string, gossip, internode, grpc, http int, joins []string, maxVoters int) string {
	return fmt.Sprintf(`cluster:
  enabled: true
  name: %s
  failure_domain: zone-%s
  data_dir: %s
  membership:
    bind_addr: 127.0.0.1
    bind_port: %d
    advertise_addr: ""
    join_addrs: ["%s"]
  internode:
    bind_addr: 127.0.0.1
    bind_port: %d
  raft:
    bootstrap_expect: 3
    role: auto
    eligible: true
    priority: 100
    max_voters: %d
    max_standbys: 4
    reconcile_debounce: 2s
api:
  grpc_addr: 127.0.0.1:%d
  http_addr: 127.0.0.1:%d
log:
  level: info
  format: json
`, name, name, dataDir, gossip, strings.Join(joins, `", "`), internode, maxVoters, grpc, http)
}

// e2eCluster is three agents sharing one binary and one temp dir.
type e2eCluster struct {
	t     *testing.T
	bin   string
	nodes []*e2eNode
	// env is added to every CLI process's environment (TLS variables).
	env []string
}

// newE2ECluster writes the configs of n nodes (not started). The cleanups
// kill every agent still running and wait for it, then, if the test failed,
// print the tail of every agent's log.
func newE2ECluster(t *testing.T, bin string, n int) *e2eCluster {
	t.Helper()
	return newE2EClusterWith(t, bin, n, nil)
}

// newE2EClusterWith is newE2ECluster with each node's YAML passed through
// edit (nil: unchanged), e.g. to add tls: and a gossip key.
func newE2EClusterWith(t *testing.T, bin string, n int, edit func(name, yaml string) string) *e2eCluster {
	t.Helper()
	dir := t.TempDir()
	ports := e2ePorts(t, 4*n)
	joins := make([]string, n)
	for i := range n {
		joins[i] = fmt.Sprintf("127.0.0.1:%d", ports[4*i])
	}
	c := &e2eCluster{t: t, bin: bin}
	for i := range n {
		name := fmt.Sprintf("node-%d", i+1)
		p := ports[4*i : 4*i+4]
		nd := &e2eNode{
			name:     name,
			cfgPath:  filepath.Join(dir, name+".yaml"),
			logPath:  filepath.Join(dir, name+".log"),
			grpcAddr: fmt.Sprintf("127.0.0.1:%d", p[2]),
		}
		cfg := e2eNodeConfig(name, filepath.Join(dir, name), p[0], p[1], p[2], p[3], joins, 5)
		if edit != nil {
			cfg = edit(name, cfg)
		}
		if err := os.WriteFile(nd.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	// Cleanups run last-in first-out: kill first, so the logs printed
	// after it are complete.
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.nodes {
				t.Logf("--- tail of %s (%s) ---\n%s", nd.name, nd.logPath, e2eTail(nd.logPath, e2eLogTail))
			}
		}
	})
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.running() {
				_ = nd.cmd.Process.Signal(syscall.SIGKILL)
				<-nd.done
			}
		}
	})
	return c
}

// start runs the node's agent, appending its stdout and stderr to its log
// file so a restart keeps the first run's lines.
func (c *e2eCluster) start(nd *e2eNode) {
	c.t.Helper()
	if nd.running() {
		c.t.Fatalf("%s: already running", nd.name)
	}
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "agent", "--config", nd.cfgPath)
	// An *os.File is handed to the child as its fd: no copying goroutine.
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		c.t.Fatalf("%s: start: %v", nd.name, err)
	}
	done := make(chan struct{})
	// This goroutine only reaps the child; the cluster's cleanup kills the
	// child and waits on done, so it never outlives the test.
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	nd.cmd, nd.done = cmd, done
}

// running reports whether the node's current process has not exited yet.
func (nd *e2eNode) running() bool {
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the node's process.
func (nd *e2eNode) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if !nd.running() {
		t.Fatalf("%s: not running", nd.name)
	}
	if err := nd.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: signal %v: %v", nd.name, sig, err)
	}
}

// waitExit waits for the node's process to be reaped and returns its exit
// status (-1 for death by a signal).
func (nd *e2eNode) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-nd.done:
		return nd.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%s: still running %s after the signal", nd.name, timeout)
		return 0
	}
}

// e2eResult is the outcome of one CLI process.
type e2eResult struct {
	code           int
	stdout, stderr string
}

// run executes one conclave CLI command to completion. A hard context
// deadline backs up the command's own --timeout so a hung client fails the
// test instead of hanging it.
func (c *e2eCluster) run(args ...string) e2eResult {
	c.t.Helper()
	return c.runEnv(c.env, args...)
}

// runEnv is run with env instead of the cluster's extra variables. The
// test's own CONCLAVE_* TLS variables (a developer's `. .cluster/env`)
// never leak into the CLI.
func (c *e2eCluster) runEnv(env []string, args ...string) e2eResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eHardTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "CONCLAVE_CACERT", "CONCLAVE_CLIENT_CERT", "CONCLAVE_CLIENT_KEY":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		c.t.Fatalf("conclave %s: still running after %s", strings.Join(args, " "), e2eHardTimeout)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		c.t.Fatalf("conclave %s: %v", strings.Join(args, " "), err)
	}
	return e2eResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// e2eStatus is the part of `raft status -o json` the test reads.
type e2eStatus struct {
	Node      string `json:"node"`
	State     string `json:"state"`
	Term      uint64 `json:"term"`
	LeaderID  string `json:"leader_id"`
	ClusterID string `json:"cluster_id"`
	Servers   []struct {
		ID       string `json:"id"`
		Suffrage string `json:"suffrage"`
	} `json:"servers"`
}

// voters counts the servers with a vote.
func (s e2eStatus) voters() int {
	n := 0
	for _, sv := range s.Servers {
		if sv.Suffrage == "voter" {
			n++
		}
	}
	return n
}

// status asks nd for its Raft view; ok is false if the call failed (node
// down, starting, or answering garbage), with the reason for the log.
func (c *e2eCluster) status(nd *e2eNode) (e2eStatus, string, bool) {
	c.t.Helper()
	r := c.run("raft", "status", "-o", "json", "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
	if r.code != 0 {
		return e2eStatus{}, strings.TrimSpace(r.stderr), false
	}
	var st e2eStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return e2eStatus{}, fmt.Sprintf("bad json: %v: %q", err, r.stdout), false
	}
	return st, "", true
}

// e2eKV is the part of a `kv list -o json` entry the test reads.
type e2eKV struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// e2eWait polls cond every e2ePoll until it holds or timeout has passed
// since start, and returns the time from start until it held. Measuring
// from a caller-given start lets "formed within 15 s of starting the
// agents" mean exactly that. On timeout it fails the test with what and
// the last observation cond reported.
func e2eWait(t *testing.T, start time.Time, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	deadline := time.NewTimer(time.Until(start.Add(timeout)))
	defer deadline.Stop()
	tick := time.NewTicker(e2ePoll)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			// A slow check can succeed after the deadline; that is
			// still too late.
			if took := time.Since(start); took <= timeout {
				return took
			}
			t.Fatalf("%s: took longer than %s", what, timeout)
		}
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
		case <-tick.C:
		}
	}
}

// e2eTail returns the last n lines of the file at path.
func e2eTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// put writes key=value through nd and fails the test if that does not work
// the first time.
func (c *e2eCluster) put(nd *e2eNode, key, value string) {
	c.t.Helper()
	r := c.run("kv", "put", key, value, "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
	if r.code != 0 {
		c.t.Fatalf("kv put %s through %s: exit %d, stderr %q", key, nd.name, r.code, r.stderr)
	}
}

// byName returns the node called name, failing the test if there is none.
func (c *e2eCluster) byName(name string) *e2eNode {
	c.t.Helper()
	for _, nd := range c.nodes {
		if nd.name == name {
			return nd
		}
	}
	c.t.Fatalf("no node named %q", name)
	return nil
}

// e2eOneLine reports whether s is exactly one non-empty line.
func e2eOneLine(s string) bool {
	return strings.TrimSpace(s) != "" && strings.Count(s, "\n") == 1 && strings.HasSuffix(s, "\n")
}
