package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internode"
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

// e2eNode is one agent: its config on disk and, while it runs, its process.
type e2eNode struct {
	name    string
	cfgPath string
	logPath string

	// The addresses the agent bound on its first start, read from its log
	// ("node started", "agent started"); empty until then. A restart
	// binds the same ones again (see e2eCluster.start).
	gossipAddr    string
	internodeAddr string
	grpcAddr      string
	httpAddr      string

	// cmd and done belong to the current run; only the test goroutine
	// touches them. done closes once the process has been reaped, after
	// which cmd.ProcessState is safe to read.
	cmd  *exec.Cmd
	done chan struct{}
}

// e2eNodeConfig is the YAML of one node, on the given ports
// (newE2EClusterWith passes e2eQuietPorts; 0 lets the agent choose, which
// e2eCluster.start learns from the log). An internode port of 0 would take
// the first free port of the auto range 7950-7959, which every agent on
// the host shares.
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
    join_addrs: %s
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
`, name, name, dataDir, gossip, e2eYAMLList(joins), internode, maxVoters, grpc, http)
}

// e2eYAMLList is addrs as a YAML flow list of strings.
func e2eYAMLList(addrs []string) string {
	if len(addrs) == 0 {
		return "[]"
	}
	return `["` + strings.Join(addrs, `", "`) + `"]`
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
// edit (nil: unchanged), e.g. to add tls: and a gossip key. Every port is
// one of e2eQuietPorts and no node has a seed yet: start fills in node-1's
// gossip address for the others when they first start.
func newE2EClusterWith(t *testing.T, bin string, n int, edit func(name, yaml string) string) *e2eCluster {
	t.Helper()
	dir := t.TempDir()
	c := &e2eCluster{t: t, bin: bin}
	for i := range n {
		name := fmt.Sprintf("node-%d", i+1)
		nd := &e2eNode{
			name:    name,
			cfgPath: filepath.Join(dir, name+".yaml"),
			logPath: filepath.Join(dir, name+".log"),
		}
		ports := e2eQuietPorts(t, 4)
		cfg := e2eNodeConfig(name, filepath.Join(dir, name), ports[0], ports[1], ports[2], ports[3], nil, 5)
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

// e2eStartTimeout bounds how long an agent may take from exec to its
// "agent started" line (ports bound, API serving).
const e2eStartTimeout = 20 * time.Second

// start runs the node's agent, appending its stdout and stderr to its log
// file so a restart keeps the first run's lines, and waits until the agent
// says it is serving.
//
// First start: the agent binds the ports its YAML names (e2eQuietPorts) and
// start reads what it bound from its log. node-1 starts with no seed; every other node
// joins node-1's gossip address, so node-1 must have started before them
// (bootstrap_expect 3: they find each other through node-1).
//
// A port picked by e2eQuietPorts can still be bound by another process
// (another test run picking in the same range) before the agent binds it:
// a first start that fails with "address already in use" is tried again on
// new ports, at most twice.
//
// Restart: the node comes back on the ports of its first start (restartAt
// moves it to another host address first), so start first rewrites its
// YAML with them, and with every known gossip address as seeds. Between
// the kill and this bind another process can take one of those ports;
// that failure is reported as such.
func (c *e2eCluster) start(nd *e2eNode) {
	c.t.Helper()
	if nd.running() {
		c.t.Fatalf("%s: already running", nd.name)
	}
	restart := nd.grpcAddr != ""
	switch {
	case restart:
		var seeds []string
		for _, o := range c.nodes {
			if o.gossipAddr != "" {
				seeds = append(seeds, o.gossipAddr)
			}
		}
		e2eEditConfig(c.t, nd, e2eConfigEdit{
			gossipPort:    e2ePort(c.t, nd.gossipAddr),
			internodePort: e2ePort(c.t, nd.internodeAddr),
			grpcAddr:      nd.grpcAddr,
			httpAddr:      nd.httpAddr,
			joins:         seeds,
		})
	case nd != c.nodes[0]:
		first := c.nodes[0]
		if first.gossipAddr == "" {
			c.t.Fatalf("%s: start %s first: the others join its gossip address", nd.name, first.name)
		}
		e2eEditConfig(c.t, nd, e2eConfigEdit{joins: []string{first.gossipAddr}})
	}

	var b e2eBound
	for attempt := 1; ; attempt++ {
		bound, out, ok := c.exec(nd)
		if ok {
			b = bound
			break
		}
		taken := strings.Contains(out, "address already in use")
		if taken && !restart && attempt < 3 {
			// A port picked as free was bound by someone else before the
			// agent bound it (another test run picking at random in the
			// same range): a first start may take other ports.
			c.t.Logf("%s: a port was taken before the agent bound it; new ports (attempt %d):\n%s", nd.name, attempt+1, out)
			e2eRepickPorts(c.t, nd)
			continue
		}
		if restart && taken {
			c.t.Fatalf("%s: restart failed: a port of its first start (gossip %s, internode %s, grpc %s, http %s) "+
				"was taken by another process while it was down (address already in use; a restarted node "+
				"must come back on its first address, issue 17):\n%s",
				nd.name, nd.gossipAddr, nd.internodeAddr, nd.grpcAddr, nd.httpAddr, out)
		}
		c.t.Fatalf("%s: agent exited with status %d before it said it was serving:\n%s",
			nd.name, nd.cmd.ProcessState.ExitCode(), out)
	}
	if !restart {
		// Internode bind_port -1 keeps the node out of the auto range
		// that other test runs on this host share (see e2eNodeConfig).
		auto := internode.DefaultConfig()
		if p := e2ePort(c.t, b.internode); p >= auto.PortMin && p <= auto.PortMax {
			c.t.Fatalf("%s: internode port %d is in the shared auto range %d-%d", nd.name, p, auto.PortMin, auto.PortMax)
		}
		nd.gossipAddr, nd.internodeAddr, nd.grpcAddr, nd.httpAddr = b.gossip, b.internode, b.grpc, b.http
		return
	}
	if got, want := b, (e2eBound{nd.gossipAddr, nd.internodeAddr, nd.grpcAddr, nd.httpAddr}); got != want {
		c.t.Fatalf("%s: restarted on %+v, want its first start's %+v", nd.name, got, want)
	}
}

// restartAt restarts a stopped node on its ports but another host address
// (a 127.0.0.0/8 address), every door moved: a process back with a new IP.
func (c *e2eCluster) restartAt(nd *e2eNode, host string) {
	c.t.Helper()
	swap := func(addr string) string {
		return net.JoinHostPort(host, strconv.Itoa(e2ePort(c.t, addr)))
	}
	nd.gossipAddr, nd.internodeAddr = swap(nd.gossipAddr), swap(nd.internodeAddr)
	nd.grpcAddr, nd.httpAddr = swap(nd.grpcAddr), swap(nd.httpAddr)
	e2eEditConfig(c.t, nd, e2eConfigEdit{bindAddr: host})
	c.start(nd)
}

// e2eBound is what an agent's log says it bound.
type e2eBound struct {
	gossip, internode, grpc, http string
}

// exec starts nd's agent once, appending its stdout and stderr to its log
// file, and waits for it to say it is serving (see waitBound).
func (c *e2eCluster) exec(nd *e2eNode) (e2eBound, string, bool) {
	c.t.Helper()
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	// This run's lines start at the current end of the log.
	fi, err := logf.Stat()
	if err != nil {
		_ = logf.Close()
		c.t.Fatal(err)
	}
	from := fi.Size()
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
	return c.waitBound(nd, from)
}

// waitBound waits for this run's "node started" (gossip and internode
// addresses) and "agent started" (gRPC and HTTP addresses) lines in nd's
// log, reading from offset from. If the agent exits first it returns false
// with this run's log lines; it fails the test if the agent does not get
// there within e2eStartTimeout.
func (c *e2eCluster) waitBound(nd *e2eNode, from int64) (e2eBound, string, bool) {
	c.t.Helper()
	deadline := time.NewTimer(e2eStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(e2ePoll / 5)
	defer tick.Stop()
	for {
		b, complete, lines := e2eReadBound(nd.logPath, from)
		if complete {
			return b, "", true
		}
		select {
		case <-nd.done:
			// Exited: its last lines are all on disk now.
			_, _, lines = e2eReadBound(nd.logPath, from)
			return e2eBound{}, strings.Join(lines, "\n"), false
		case <-deadline.C:
			c.t.Fatalf("%s: no \"node started\" and \"agent started\" lines within %s; this run's log:\n%s",
				nd.name, e2eStartTimeout, strings.Join(lines, "\n"))
		case <-tick.C:
		}
	}
}

// e2eRepickPorts gives nd's YAML four new e2eQuietPorts (gossip, internode,
// gRPC, HTTP), keeping the API addresses' hosts.
func e2eRepickPorts(t *testing.T, nd *e2eNode) {
	t.Helper()
	raw, err := os.ReadFile(nd.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	host := func(key string) string {
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "  "+key+": "); ok {
				if h, _, err := net.SplitHostPort(strings.TrimSpace(v)); err == nil {
					return h
				}
			}
		}
		t.Fatalf("%s: no %s in %s", nd.name, key, nd.cfgPath)
		return ""
	}
	ports := e2eQuietPorts(t, 4)
	e2eEditConfig(t, nd, e2eConfigEdit{
		gossipPort:    ports[0],
		internodePort: ports[1],
		grpcAddr:      net.JoinHostPort(host("grpc_addr"), strconv.Itoa(ports[2])),
		httpAddr:      net.JoinHostPort(host("http_addr"), strconv.Itoa(ports[3])),
	})
}

// e2eReadBound reads the complete lines of the log at path from offset
// from, and returns the addresses of the "node started" and "agent
// started" lines among them (complete once both were seen) and the lines.
func e2eReadBound(path string, from int64) (b e2eBound, complete bool, lines []string) {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < from {
		return e2eBound{}, false, nil
	}
	data = data[from:]
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i] // a line still being written waits for the next read
	} else {
		return e2eBound{}, false, nil
	}
	var node, agent bool
	for _, l := range strings.Split(string(data), "\n") {
		lines = append(lines, l)
		var rec struct {
			Message   string `json:"message"`
			Gossip    string `json:"gossip"`
			Internode string `json:"internode"`
			GRPC      string `json:"grpc_addr"`
			HTTP      string `json:"http_addr"`
		}
		if json.Unmarshal([]byte(l), &rec) != nil {
			continue // not a log line (e.g. an error printed to stderr)
		}
		switch rec.Message {
		case "node started":
			b.gossip, b.internode, node = rec.Gossip, rec.Internode, true
		case "agent started":
			b.grpc, b.http, agent = rec.GRPC, rec.HTTP, true
		}
	}
	return b, node && agent, lines
}

// e2ePort is the port of addr (host:port), failing the test if it has none.
func e2ePort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 {
		t.Fatalf("address %q: bad port", addr)
	}
	return port
}

// e2eConfigEdit is what e2eEditConfig sets in a node's YAML; zero fields
// are left as they are.
type e2eConfigEdit struct {
	bindAddr                  string // membership's and internode's bind_addr
	gossipPort, internodePort int
	grpcAddr, httpAddr        string
	joins                     []string
}

// e2eEditConfig rewrites the lines of nd's YAML (as e2eNodeConfig wrote it,
// plus the test's own edits) that e sets. Each must be there exactly once.
func e2eEditConfig(t *testing.T, nd *e2eNode, e e2eConfigEdit) {
	t.Helper()
	raw, err := os.ReadFile(nd.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	seen := map[string]int{}
	set := func(i int, key, line string) {
		lines[i] = line
		seen[key]++
	}
	section := ""
	for i, l := range lines {
		if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") && strings.HasSuffix(l, ":") {
			section = strings.TrimSuffix(strings.TrimSpace(l), ":")
		}
		switch {
		case (section == "membership" || section == "internode") && strings.HasPrefix(l, "    bind_addr: ") && e.bindAddr != "":
			set(i, section+".bind_addr", "    bind_addr: "+e.bindAddr)
		case section == "membership" && strings.HasPrefix(l, "    bind_port: ") && e.gossipPort != 0:
			set(i, "membership.bind_port", "    bind_port: "+strconv.Itoa(e.gossipPort))
		case section == "membership" && strings.HasPrefix(l, "    join_addrs: ") && e.joins != nil:
			set(i, "membership.join_addrs", "    join_addrs: "+e2eYAMLList(e.joins))
		case section == "internode" && strings.HasPrefix(l, "    bind_port: ") && e.internodePort != 0:
			set(i, "internode.bind_port", "    bind_port: "+strconv.Itoa(e.internodePort))
		case strings.HasPrefix(l, "  grpc_addr: ") && e.grpcAddr != "":
			set(i, "api.grpc_addr", "  grpc_addr: "+e.grpcAddr)
		case strings.HasPrefix(l, "  http_addr: ") && e.httpAddr != "":
			set(i, "api.http_addr", "  http_addr: "+e.httpAddr)
		}
	}
	want := map[string]bool{
		"membership.bind_addr":  e.bindAddr != "",
		"internode.bind_addr":   e.bindAddr != "",
		"membership.bind_port":  e.gossipPort != 0,
		"membership.join_addrs": e.joins != nil,
		"internode.bind_port":   e.internodePort != 0,
		"api.grpc_addr":         e.grpcAddr != "",
		"api.http_addr":         e.httpAddr != "",
	}
	for key, w := range want {
		if w && seen[key] != 1 {
			t.Fatalf("%s: %s: %d lines of %s, want 1", nd.name, nd.cfgPath, seen[key], key)
		}
	}
	if err := os.WriteFile(nd.cfgPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
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
// test's own CONCLAVE_* TLS and token variables (a developer's
// `. .cluster/env`) never leak into the CLI.
func (c *e2eCluster) runEnv(env []string, args ...string) e2eResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eHardTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = e2eEnviron(env)
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

// e2eEnviron is the test's environment without its CONCLAVE_* TLS and
// token variables, plus extra.
func e2eEnviron(extra []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "CONCLAVE_CACERT", "CONCLAVE_CLIENT_CERT", "CONCLAVE_CLIENT_KEY", "CONCLAVE_TOKEN", "CONCLAVE_TOKEN_FILE":
		default:
			out = append(out, kv)
		}
	}
	return append(out, extra...)
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
		Address  string `json:"address"`
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

// e2eQuietPorts returns n distinct ports, free for TCP and UDP on
// 127.0.0.1 now, picked at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range) and above the documented fixed ports. A
// node restarted on its first ports needs them still free: a port the
// kernel handed out (port 0) goes straight back into the pool that every
// other process's listeners and outgoing connections draw from, and with a
// second `make test` beside this one a restart found one taken ("address
// already in use"). Below the range only a process that names the port
// can take it, and the other run's picks are random too.
func e2eQuietPorts(t *testing.T, n int) []int {
	t.Helper()
	hi := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > 20000 {
				hi = lo
			}
		}
	}
	const lo = 20000
	var out []int
	seen := map[int]bool{}
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no %d free ports in %d-%d after 1000 tries", n, lo, hi-1)
		}
		p := lo + rand.IntN(hi-lo)
		if seen[p] {
			continue
		}
		seen[p] = true
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err != nil {
			continue
		}
		_ = pc.Close()
		out = append(out, p)
	}
	return out
}
