package raftcore

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// serialTransport is raft's NetworkTransport with pipelined replication
// turned off: raft then replicates to each follower one AppendEntries at a
// time, each carrying every entry that queued up meanwhile (up to
// MaxAppendEntries), so batching still amortises the round trip.
//
// Why: hashicorp/raft v1.7.3's pipeline can deadlock. When a follower's
// answer fails or says Success=false, pipelineDecode returns and nothing
// reads the pipeline's done channel any more; if the send loop then issues
// one more AppendEntries, it parks on the in-progress channel while the
// response decoder parks on the done channel, and pipeline.Close, which
// would free both, runs only after the send loop. The follower then gets
// heartbeats but never another entry, and Raft's Shutdown waits forever.
// Seen here as a test whose cleanup hung for 14 minutes with exactly those
// two goroutines parked; Grafana Pyroscope disabled pipelining for the same
// analysis. Embedding keeps every optional ability (pre-vote, close).
type serialTransport struct {
	*raft.NetworkTransport
	hb   *heartbeatGate
	rpcs *rpcMux
	// commitCap lowers the commit index a request tells a follower to
	// what this leader has synced itself (earlyLog.commitCap); nil
	// without early replication.
	commitCap func(uint64) uint64
}

// AppendEntries sends one request, its commit index capped by commitCap.
func (t serialTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if t.commitCap != nil && args.LeaderCommitIndex > 0 {
		args.LeaderCommitIndex = t.commitCap(args.LeaderCommitIndex)
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

// Consumer is the merged stream of the network's RPCs and this node's own
// (rpcMux). raft reads it once, at start.
func (t serialTransport) Consumer() <-chan raft.RPC {
	if t.rpcs == nil {
		return t.NetworkTransport.Consumer()
	}
	return t.rpcs.out
}

// AppendEntriesPipeline reports that pipelining is unsupported, which makes
// raft fall back to synchronous replication.
func (serialTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// transportMaxPool is how many idle streams Raft's transport keeps per peer.
const transportMaxPool = 3

// RequestVote asks target for its vote. An attempt that sent nothing,
// because the pooled stream it took belonged to a session that has since
// ended (the peer restarted), is made again at once on another stream:
// NetworkTransport keeps up to transportMaxPool idle streams per peer and
// does not check them before use, so after a peer restarts each of them
// would otherwise cost a whole election round (seen as 4-5 s without a
// leader in the fault schedule, docs/benchmarks.md).
func (t serialTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return retryUnsent(func() error { return t.NetworkTransport.RequestVote(id, target, args, resp) })
}

// RequestPreVote is RequestVote's pre-vote, made again the same way.
func (t serialTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return retryUnsent(func() error { return t.NetworkTransport.RequestPreVote(id, target, args, resp) })
}

// retryUnsent runs rpc until it fails with something other than "nothing
// was sent", at most once per pooled stream and once more on a fresh one.
func retryUnsent(rpc func() error) error {
	var err error
	for range transportMaxPool + 1 {
		if err = rpc(); !unsent(err) {
			return err
		}
	}
	return err
}

// unsent reports an error that says nothing was sent: the mesh's write on a
// stream that had already ended (it has a NotSent method).
func unsent(err error) bool {
	var ns interface{ NotSent() bool }
	return err != nil && errors.As(err, &ns) && ns.NotSent()
}

// SetHeartbeatHandler installs raft's heartbeat fast path behind the gate.
// NetworkTransport runs that handler on its connection goroutine, not on
// raft's: raft checks its shutdown channel first, but a heartbeat that
// passed the check while Shutdown ran goes on to write the term to the
// stable store, which Core.Shutdown closes next. Seen as raft's panic
// "failed to save current term: database not open" in a test's shutdown.
// The gate lets Shutdown wait for heartbeats in flight and refuse later
// ones before it closes the stores.
func (t serialTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil || t.hb == nil {
		t.NetworkTransport.SetHeartbeatHandler(cb)
		return
	}
	t.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		if !t.hb.enter() {
			rpc.Respond(nil, errShuttingDown)
			return
		}
		defer t.hb.leave()
		cb(rpc)
	})
}

// errShuttingDown answers an RPC that arrived as the Core shut down.
var errShuttingDown = errors.New("raftcore: shutting down")

// heartbeatGate counts heartbeats in flight; once closed it admits none.
type heartbeatGate struct {
	mu     sync.RWMutex
	closed bool
}

func (g *heartbeatGate) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *heartbeatGate) leave() { g.mu.RUnlock() }

// close waits for the heartbeats in flight and refuses every later one.
func (g *heartbeatGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// rpcMux hands raft the network's RPCs and lets the Core add its own: the
// only one it adds is a TimeoutNow to itself (leaderloss.go). One goroutine
// moves the network's RPCs, stopped by stop.
type rpcMux struct {
	out  chan raft.RPC
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newRPCMux(in <-chan raft.RPC) *rpcMux {
	m := &rpcMux{out: make(chan raft.RPC), done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			var rpc raft.RPC
			select {
			case rpc = <-in:
			case <-m.done:
				return
			}
			select {
			case m.out <- rpc:
			case <-m.done:
				rpc.Respond(nil, errShuttingDown)
				return
			}
		}
	}()
	return m
}

// inject gives raft rpc, unless the mux stops first (false).
func (m *rpcMux) inject(rpc raft.RPC) bool {
	select {
	case m.out <- rpc:
		return true
	case <-m.done:
		return false
	}
}

// stop ends the goroutine and waits for it. Idempotent.
func (m *rpcMux) stop() {
	m.once.Do(func() { close(m.done) })
	m.wg.Wait()
}

// patientStreams is the stream layer raft's transport dials through. A dial
// that is refused (nothing listens: the peer's process is down, perhaps
// restarting) is tried again every retry until wait has passed (within the
// caller's timeout), then fails. hashicorp/raft backs off after each failed
// RPC to a peer, doubling from 10 ms to 10 s; with dials refused at once the
// count runs up within seconds of a peer's death, and a peer back moments
// later waited up to the next try (seen: 5 s) before the leader sent it the
// log. Failing after a patient second, a peer that has been down for a
// while is still tried within about a second of its return.
type patientStreams struct {
	raft.StreamLayer
	wait, retry time.Duration
	done        <-chan struct{}
}

// Dial dials addr, trying again while it is refused (see patientStreams).
func (p patientStreams) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	end := time.Now().Add(min(timeout, p.wait))
	for {
		conn, err := p.StreamLayer.Dial(addr, timeout)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().Add(p.retry).After(end) {
			return conn, err
		}
		t := time.NewTimer(p.retry)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
			return nil, err
		}
	}
}
