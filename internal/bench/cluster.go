package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// Cluster is a testcluster whose every running node is served by its own
// gRPC API server on 127.0.0.1:0, as `conclave agent` serves it. Start
// returns it formed and settled; the benchmark's cleanup stops the servers
// (after the clients and sessions handed out, before the nodes).
//
// Its methods are called from the benchmark goroutine only.
type Cluster struct {
	tb  testing.TB
	cfg Config
	tc  *testcluster.Cluster

	mu   sync.Mutex
	apis map[*testcluster.Node]*apiServer
}

// apiServer is one node's API server and the goroutine serving it.
type apiServer struct {
	srv  *api.Server
	addr string
	done chan error // receives Serve's result, once
}

// Start starts cfg.Nodes nodes, waits until one leads and every node is a
// caught-up voter, then serves each node's API and waits until every API
// answers a write. It fails tb on any error.
func Start(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{
		tb:  tb,
		cfg: cfg,
		tc: testcluster.New(tb, cfg.Nodes, testcluster.Options{Configure: func(_ int, nc *config.Config) {
			if cfg.LogStore != "" {
				nc.Cluster.Raft.LogStore = cfg.LogStore
			}
		}}),
		apis: map[*testcluster.Node]*apiServer{},
	}
	// Registered after testcluster's own cleanup, so it runs before the
	// nodes close: the servers must not outlive the nodes they serve.
	tb.Cleanup(c.closeAll)
	c.tc.WaitLeader(cfg.StartTimeout)
	for _, n := range c.tc.Running() {
		c.serve(n)
	}
	c.settle()
	return c
}

// serve starts an API server for the running node n.
func (c *Cluster) serve(n *testcluster.Node) {
	c.tb.Helper()
	srv, err := api.New(api.DefaultLocalConfig(), api.ServicesOf(n.Node))
	if err != nil {
		c.tb.Fatalf("api for %s: %v", n.Name, err)
	}
	a := &apiServer{srv: srv, addr: srv.GRPCAddr().String(), done: make(chan error, 1)}
	go func() { a.done <- srv.Serve(context.Background()) }()
	c.mu.Lock()
	c.apis[n] = a
	c.mu.Unlock()
}

// stopAPI closes n's API server at once and waits for its goroutine.
func (c *Cluster) stopAPI(n *testcluster.Node) {
	c.mu.Lock()
	a := c.apis[n]
	delete(c.apis, n)
	c.mu.Unlock()
	if a == nil {
		return
	}
	_ = a.srv.Close()
	if err := <-a.done; err != nil {
		c.tb.Errorf("api for %s: %v", n.Name, err)
	}
}

func (c *Cluster) closeAll() {
	for _, n := range c.tc.Nodes() {
		c.stopAPI(n)
	}
}

// Addr is the gRPC address of n's API server.
func (c *Cluster) Addr(n *testcluster.Node) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.apis[n]
	if a == nil {
		c.tb.Fatalf("%s has no api server (killed?)", n.Name)
	}
	return a.addr
}

// Leader waits for the settled leader and returns it.
func (c *Cluster) Leader() *testcluster.Node { return c.tc.WaitLeader(c.cfg.StartTimeout) }

// Follower returns a running node that is not the settled leader.
func (c *Cluster) Follower() *testcluster.Node {
	leader := c.Leader()
	for _, n := range c.tc.Running() {
		if n != leader {
			return n
		}
	}
	c.tb.Fatal("no follower running")
	return nil
}

// Spread returns k running nodes round-robin in the order they were added,
// so k clients put about k/3 each on the leader and on every follower.
func (c *Cluster) Spread(k int) []*testcluster.Node {
	running := c.tc.Running()
	out := make([]*testcluster.Node, k)
	for i := range out {
		out[i] = running[i%len(running)]
	}
	return out
}

// Client returns a new SDK client (its own gRPC connection) for n's API,
// closed at cleanup.
func (c *Cluster) Client(n *testcluster.Node) *client.Client {
	c.tb.Helper()
	cl, err := client.New(c.Addr(n))
	if err != nil {
		c.tb.Fatalf("client for %s: %v", n.Name, err)
	}
	c.tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Sessions opens one session on each of nodes, each over its own client,
// closed at cleanup (before their clients).
func (c *Cluster) Sessions(nodes []*testcluster.Node) []*client.Session {
	c.tb.Helper()
	out := make([]*client.Session, len(nodes))
	for i, n := range nodes {
		cl := c.Client(n)
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
		s, err := cl.Session(ctx)
		cancel()
		if err != nil {
			c.tb.Fatalf("session on %s: %v", n.Name, err)
		}
		c.tb.Cleanup(func() { _ = s.Close() })
		out[i] = s
	}
	return out
}

// Kill crashes n (no leave, no leadership hand-off, as kill -9) and closes
// its API server.
func (c *Cluster) Kill(n *testcluster.Node) {
	c.tb.Helper()
	c.tc.Kill(n)
	c.stopAPI(n)
}

// Restart starts a killed node again on its data dir and ports, serves
// its API on a new port, and waits until the cluster has settled again.
func (c *Cluster) Restart(n *testcluster.Node) {
	c.tb.Helper()
	c.tc.Restart(n)
	c.serve(n)
	c.settle()
}

// WaitCaughtUp waits until every running node follows the leader and has
// applied what the leader had committed: a write acknowledged before the
// call is then in every node's replica (stale reads find it).
func (c *Cluster) WaitCaughtUp() {
	c.tb.Helper()
	testcluster.WaitFor(c.tb, c.cfg.StartTimeout, "every node following the leader and caught up", func() bool {
		return c.caughtUp(false)
	})
}

// caughtUp reports whether every running node follows the current leader
// and has applied what the leader had committed, and, with allVoters,
// whether every running node is a voter.
func (c *Cluster) caughtUp(allVoters bool) bool {
	leader := c.tc.Leader() // re-read: an election may still move it
	if leader == nil {
		return false
	}
	st := leader.RaftStatus()
	running := c.tc.Running()
	if allVoters {
		voters := 0
		for _, s := range st.Servers {
			if s.Suffrage == "voter" {
				voters++
			}
		}
		if voters != len(running) {
			return false
		}
	}
	for _, n := range running {
		ns := n.RaftStatus()
		if ns.LeaderID != leader.Name || ns.AppliedIndex < st.CommitIndex {
			return false
		}
	}
	return true
}

// settle waits until one node leads, every running node is a voter that
// follows it and has applied what it had committed, and a write through
// every node's API succeeds: the state in which DESIGN §16 measures, and
// in which a leader can be killed without losing quorum.
func (c *Cluster) settle() {
	c.tb.Helper()
	c.tc.WaitLeader(c.cfg.StartTimeout)
	running := c.tc.Running()
	testcluster.WaitFor(c.tb, c.cfg.StartTimeout, "every node a caught-up voter following the leader", func() bool {
		return c.caughtUp(true)
	})
	for _, n := range running {
		cl, err := client.New(c.Addr(n))
		if err != nil {
			c.tb.Fatalf("client for %s: %v", n.Name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
		_, err = cl.KV().Put(ctx, "bench/ready/"+n.Name, []byte("ok"))
		cancel()
		_ = cl.Close()
		if err != nil {
			c.tb.Fatalf("settle: write through %s's api: %v", n.Name, err)
		}
	}
}
