package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/pki"
)

// Options shape a test cluster.
type Options struct {
	// BootstrapExpect for every node. 0 means the default: the first
	// min(n, 3) nodes bootstrap together (bootstrap_expect = that number)
	// and any others have bootstrap_expect 0 and join. Use -1 for
	// bootstrap_expect 0 on every node (join only).
	BootstrapExpect int
	// Configure may adjust each node's config before it first starts.
	Configure func(i int, cfg *config.Config)
	// NodeOptions, when set, adds options to node i's cluster.New, at
	// every start (for example a Prometheus registerer: give a restarted
	// node a fresh one, a registry refuses the same metrics twice).
	NodeOptions func(i int) []cluster.Option
	// GossipKey, if set, is every node's gossip secret
	// (cluster.membership.secret, base64 of 16, 24 or 32 bytes): the
	// cluster gossips encrypted, and its keyring can be rotated. Configure
	// runs after it and may override it.
	GossipKey string
	// DropGroupDelta, if set, is asked before node from sends a
	// process-group delta to node to; true drops it (as if lost).
	DropGroupDelta func(from, to string) bool
	// LogAppend, if set, is asked before node appends to its Raft log
	// store; an error fails the append as a full disk would.
	LogAppend func(node string) error
	// Plain runs the internode mesh in clear. By default every node gets
	// a certificate of a CA made for the cluster (tls: in its config), so
	// the mesh is mutual TLS as in production.
	Plain bool
}

// Cluster is a set of in-process nodes.
type Cluster struct {
	t    testing.TB
	opts Options
	net  *network
	logs *logBuffer
	ca   *authority // nil with Options.Plain
	base string     // the nodes' data dirs live under it

	mu    sync.Mutex
	nodes []*Node
}

// Node is one member of a test cluster. Its embedded *cluster.Node is nil
// while it is stopped or killed.
type Node struct {
	*cluster.Node
	Name  string
	Dir   string
	index int
	c     *Cluster
	cfg   config.Config

	gossipAddr, meshAddr string
}

// New starts n nodes and registers their shutdown with t.Cleanup. It does
// not wait for a leader: call WaitLeader.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	// The temp dir first: cleanups run last-in first-out, so the nodes
	// stop before their data dirs are removed, not while.
	base := t.TempDir()
	c := &Cluster{t: t, opts: opts, net: newNetwork(), logs: newLogBuffer(), base: base}
	if !opts.Plain {
		c.ca = newAuthority(t)
	}
	t.Cleanup(c.cleanup)
	for i := 0; i < n; i++ {
		c.AddNode()
	}
	return c
}

// AddNode adds one more node that joins the existing ones when Start (or
// WaitLeader) starts it. Its bootstrap_expect is the cluster's, so a late
// node must find the formed cluster and not bootstrap.
func (c *Cluster) AddNode() *Node {
	c.t.Helper()
	c.mu.Lock()
	i := len(c.nodes)
	dir := filepath.Join(c.base, "n"+strconv.Itoa(i+1))
	c.mu.Unlock()
	cfg := config.Default()
	cfg.Cluster.Name = "n" + strconv.Itoa(i+1)
	cfg.Cluster.DataDir = dir
	cfg.Cluster.Membership.BindAddr = "127.0.0.1"
	cfg.Cluster.Membership.BindPort = 0
	cfg.Cluster.Internode.BindAddr = "127.0.0.1"
	cfg.Cluster.Internode.BindPort = 0
	cfg.API.GRPCAddr = "127.0.0.1:0"
	cfg.API.HTTPAddr = "127.0.0.1:0"
	cfg.Log.Level = "debug"
	// Fast reconciler timings, as the other packages' local configs.
	cfg.Cluster.Raft.ReconcileDebounce = config.Duration(100 * time.Millisecond)
	cfg.Cluster.Raft.Stabilization = config.Duration(time.Second)
	if c.ca != nil {
		f := c.ca.issue(c.t, pki.CertRequest{Node: cfg.Cluster.Name})
		cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile = f.CA, f.Cert, f.Key
	}
	switch {
	case c.opts.BootstrapExpect < 0:
		cfg.Cluster.Raft.BootstrapExpect = 0
	case c.opts.BootstrapExpect > 0:
		cfg.Cluster.Raft.BootstrapExpect = c.opts.BootstrapExpect
	default:
		cfg.Cluster.Raft.BootstrapExpect = -1 // filled in below: n is not known yet
	}
	cfg.Cluster.Membership.Secret = c.opts.GossipKey
	if c.opts.Configure != nil {
		c.opts.Configure(i, &cfg)
	}
	node := &Node{Name: cfg.Cluster.Name, Dir: dir, index: i, c: c, cfg: cfg}
	c.mu.Lock()
	c.nodes = append(c.nodes, node)
	c.mu.Unlock()
	return node
}

// Start starts every node added but not yet started, in order, each joining
// the ones before it. New's nodes are started by the first call to Start,
// WaitLeader or any Node method that needs them; tests normally just call
// WaitLeader.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()
	seeds := min(len(nodes), 3)
	for _, n := range nodes {
		if n.gossipAddr == "" {
			if n.cfg.Cluster.Raft.BootstrapExpect < 0 {
				n.cfg.Cluster.Raft.BootstrapExpect = 0
				if n.index < seeds {
					n.cfg.Cluster.Raft.BootstrapExpect = seeds
				}
			}
			n.start()
		}
	}
}

// start starts (or restarts) the node on its data dir, joining every other
// node's last known gossip address.
func (n *Node) start() {
	c := n.c
	c.t.Helper()
	cfg := n.cfg
	var joins []string
	c.mu.Lock()
	for _, o := range c.nodes {
		if o != n && o.gossipAddr != "" {
			joins = append(joins, o.gossipAddr)
		}
	}
	c.mu.Unlock()
	cfg.Cluster.Membership.JoinAddrs = joins
	if n.gossipAddr != "" { // restart: same ports, like a real process
		cfg.Cluster.Membership.BindPort = port(n.gossipAddr)
		cfg.Cluster.Internode.BindPort = port(n.meshAddr)
	}
	logger := zerolog.New(c.logs).With().Timestamp().Logger().Level(zerolog.DebugLevel)
	name := n.Name
	faults := &cluster.Faults{
		GossipAllowed: func(addr string) bool { return c.net.allowedGossip(name, addr) },
		MeshAllowed:   func(addr string) error { return c.net.allowedMesh(name, addr) },
	}
	if drop := c.opts.DropGroupDelta; drop != nil {
		faults.DropGroupDelta = func(peer string) bool { return drop(name, peer) }
	}
	if fail := c.opts.LogAppend; fail != nil {
		faults.LogAppend = func() error { return fail(name) }
	}
	opts := []cluster.Option{cluster.WithLogger(logger), cluster.WithLocalTimings(), cluster.WithFaults(faults)}
	if c.opts.NodeOptions != nil {
		opts = append(opts, c.opts.NodeOptions(n.index)...)
	}
	node, err := cluster.New(cfg, opts...)
	if err != nil && n.gossipAddr != "" && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")) {
		// Another process (often an outgoing connection of a test running
		// alongside) took the port while the node was down. A real node
		// that comes back on a new address keeps its ID (DESIGN §4): do
		// that rather than fail the test on the machine's luck.
		c.t.Logf("restart %s: its old port is taken (%v); starting on new ports", n.Name, err)
		cfg.Cluster.Membership.BindPort, cfg.Cluster.Internode.BindPort = 0, 0
		node, err = cluster.New(cfg, opts...)
	}
	if err != nil {
		c.t.Fatalf("start %s: %v", n.Name, err)
	}
	n.Node = node
	n.gossipAddr, n.meshAddr = node.GossipAddr(), node.InternodeAddr()
	c.net.register(n.Name, n.gossipAddr, n.meshAddr)
}

func port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	v, _ := strconv.Atoi(p)
	return v
}

// Nodes returns every node, running or not, in the order added.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Running returns the nodes that are running.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// Running reports whether the node is started and has not stopped (by the
// harness or by itself, as after Leave).
func (n *Node) Running() bool {
	if n.Node == nil {
		return false
	}
	select {
	case <-n.Done():
		return false
	default:
		return true
	}
}

// Leader returns the running node that is Raft leader and whose leadership
// every other running Raft member it can reach agrees on, or nil.
func (c *Cluster) Leader() *Node {
	var leader *Node
	for _, n := range c.Running() {
		if n.RaftStatus().State == "leader" {
			if leader != nil {
				return nil // two claim it (one is stale): not settled yet
			}
			leader = n
		}
	}
	return leader
}

// WaitLeader starts any unstarted nodes and waits until one leader is
// settled and every running member of its configuration follows it.
func (c *Cluster) WaitLeader(timeout time.Duration) *Node {
	c.t.Helper()
	c.Start()
	var leader *Node
	WaitFor(c.t, timeout, "a settled leader", func() bool {
		leader = c.Leader()
		if leader == nil {
			return false
		}
		st := leader.RaftStatus()
		for _, s := range st.Servers {
			n := c.byName(s.ID)
			if n == nil || !n.Running() || c.net.isolatedFrom(leader.Name, n.Name) {
				continue
			}
			// Each node agrees on the leader, and each member of the
			// configuration knows it is one (a follower learns it was
			// added only with the entry).
			st := n.RaftStatus()
			if st.LeaderID != leader.Name || (s.Role != "client" && st.State == "client") {
				return false
			}
		}
		return true
	})
	return leader
}

func (c *Cluster) byName(name string) *Node {
	for _, n := range c.Nodes() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Kill stops n at once, with no leave and no leadership hand-off.
func (c *Cluster) Kill(n *Node) {
	c.t.Helper()
	if !n.Running() {
		return
	}
	_ = n.Node.Close()
	n.Node = nil
}

// Stop stops n gracefully (leadership hand-off, gossip leave).
func (c *Cluster) Stop(n *Node) {
	c.t.Helper()
	if !n.Running() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.Node.Shutdown(ctx); err != nil {
		c.t.Logf("stop %s: %v", n.Name, err)
	}
	n.Node = nil
}

// Restart starts a stopped or killed node again on its data dir and ports.
func (c *Cluster) Restart(n *Node) {
	c.t.Helper()
	if n.Running() {
		c.t.Fatalf("restart %s: still running", n.Name)
	}
	n.start()
}

// Partition cuts gossip and internode traffic between a and b, both ways.
func (c *Cluster) Partition(a, b *Node) {
	c.net.cut(a.Name, b.Name)
	for _, pair := range [][2]*Node{{a, b}, {b, a}} {
		if pair[0].Running() {
			pair[0].DropLinks(pair[1].meshAddr)
		}
	}
}

// CutMesh cuts only the internode mesh between a and b, both ways: gossip
// still passes, so each sees the other alive but cannot reach it.
func (c *Cluster) CutMesh(a, b *Node) {
	c.net.cutMesh(a.Name, b.Name)
	for _, pair := range [][2]*Node{{a, b}, {b, a}} {
		if pair[0].Running() {
			pair[0].DropLinks(pair[1].meshAddr)
		}
	}
}

// Isolate partitions each of the given nodes from every node not given.
func (c *Cluster) Isolate(group ...*Node) {
	in := map[*Node]bool{}
	for _, n := range group {
		in[n] = true
	}
	for _, a := range group {
		for _, b := range c.Nodes() {
			if !in[b] {
				c.Partition(a, b)
			}
		}
	}
}

// Heal removes every partition and mesh cut.
func (c *Cluster) Heal() { c.net.healAll() }

func (c *Cluster) cleanup() {
	var wg sync.WaitGroup
	for _, n := range c.Running() {
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			_ = n.Node.Close()
		}(n)
	}
	wg.Wait()
	if c.t.Failed() {
		lines := 400
		if v, err := strconv.Atoi(os.Getenv("CONCLAVE_TEST_LOG_LINES")); err == nil && v > 0 {
			lines = v
		}
		c.t.Logf("cluster log (last %d lines; CONCLAVE_TEST_LOG_LINES=N for more):\n%s", lines, c.logs.tail(lines))
	}
}

// WaitFor polls cond until it holds or the timeout passes, then fails the
// test naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// String names the node for test messages.
func (n *Node) String() string { return fmt.Sprintf("%s(%s)", n.Name, n.gossipAddr) }

// LogsContain reports whether any node has logged a line containing s.
func (c *Cluster) LogsContain(s string) bool { return c.logs.contains(s) }

// CountLogs counts the lines node logged (any node if node is "") that
// contain s.
func (c *Cluster) CountLogs(node, s string) int { return c.logs.count(node, s) }

// Index is the node's position in the order nodes were added (0-based).
func (n *Node) Index() int { return n.index }

// Config is the node's configuration as it starts (its data dir, name and
// settings), for tools that work on a stopped node's data dir.
func (n *Node) Config() config.Config { return n.cfg }

// RestartAt starts a stopped or killed node again on its data dir and
// ports but on another host address (a 127.0.0.0/8 address on Linux): a
// process that comes back with a new IP, as a rescheduled pod does.
func (c *Cluster) RestartAt(n *Node, host string) {
	c.t.Helper()
	if n.Running() {
		c.t.Fatalf("restart %s: still running", n.Name)
	}
	n.cfg.Cluster.Membership.BindAddr = host
	n.cfg.Cluster.Internode.BindAddr = host
	n.start()
}
