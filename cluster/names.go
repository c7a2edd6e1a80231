package cluster

import (
	"context"
	"sync/atomic"

	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/naming"
)

// The name service is package naming's (Node.Names). Its errors and
// types keep their cluster names (api and the tests use them).
type (
	// NameConflict is the error of a refused registration: it wraps
	// ErrNameTaken and says who owns the name.
	NameConflict = naming.Conflict
	// NameWatch streams the changes to the bindings under a prefix.
	NameWatch = naming.Watch
)

var (
	// ErrNameTaken: the name is registered (or reserved) by another
	// session; the message names the owner. gRPC AlreadyExists.
	ErrNameTaken = naming.ErrTaken
	// ErrNotOwner: unregister by a session that does not own the name.
	// gRPC FailedPrecondition.
	ErrNotOwner = naming.ErrNotOwner
	// ErrNameExpired: a strong registration did not gather every live
	// node's acknowledgement before its deadline; the message lists the
	// nodes that did not answer. gRPC DeadlineExceeded.
	ErrNameExpired = naming.ErrExpired
)

// newNames builds the name service before gossip and Raft start: its
// table goes into the FSM, its gossip delegate (the returned nameGossip)
// into gossip's options. The adapters reach the Raft core, the mesh and
// the gossip membership once those exist: the service proposes and asks
// peers only from requests, which come after New; the gossip view is
// stored into the nameGossip as soon as gossip is up.
func (n *Node) newNames(cfg config.Config) (*naming.Service, *nameGossip, error) {
	ng := &nameGossip{}
	ng.bq = gossip.NewBroadcasts(ng.numAlive, 4)
	nc := naming.DefaultConfig()
	nc.StrongDeadline = cfg.Cluster.Names.StrongDeadline.Duration()
	nc.MaxBroadcast = gossip.MaxBroadcast
	svc, err := naming.New(nc, cfg.Cluster.Name, naming.Deps{
		Proposer: proposer{n}, Members: ng, Acker: nameNode{n}, Sessions: nameNode{n}, Gossip: ng,
	}, naming.WithLogger(n.log))
	if err != nil {
		return nil, nil, err
	}
	ng.svc = svc
	return svc, ng, nil
}

// nameNode adapts the Node to naming's Acker (the mesh's ack class) and
// Sessions (the session table). The mesh is read at call time: the service
// asks peers only from requests, which come after New.
type nameNode struct{ n *Node }

func (a nameNode) Request(ctx context.Context, addr string, req []byte) ([]byte, error) {
	return a.n.mesh.Request(ctx, addr, internode.ClassAck, req)
}

func (a nameNode) Open(pid string) bool {
	_, ok := a.n.sessions.Lookup(pid)
	return ok
}

func (a nameNode) Revoked(pid, name, winner string) {
	a.n.sessions.Emit(pid, SessionEvent{Kind: EventNameRevoked, Name: name, Owner: winner, Detail: "name revoked: " + winner})
}

// nameGossip adapts the gossip membership to naming's Members and
// Broadcaster, and plugs the eventual scope into gossip as its state
// delegate. Gossip calls the delegate before gossip.New returns, so the
// membership is set (Store) once it exists and read atomically; until then
// no peer is alive.
type nameGossip struct {
	ml  atomic.Pointer[gossip.Membership]
	bq  *gossip.Broadcasts
	svc *naming.Service
	// ekv is the eventual KV store, which shares the delegate (ekv.go);
	// set before gossip starts.
	ekv *kv.EventualService
}

func (g *nameGossip) numAlive() int {
	if ml := g.ml.Load(); ml != nil {
		return ml.NumAlive()
	}
	return 1
}

func (g *nameGossip) LivePeers() []naming.Peer {
	ml := g.ml.Load()
	if ml == nil {
		return nil
	}
	var peers []naming.Peer
	for _, m := range ml.Members() {
		if m.Name != ml.LocalName() && m.State == gossip.StateAlive {
			peers = append(peers, naming.Peer{Name: m.Name, Addr: m.Meta.InternodeAddr})
		}
	}
	return peers
}

func (g *nameGossip) Alive(node string) bool {
	ml := g.ml.Load()
	if ml == nil {
		return false
	}
	m, ok := ml.Member(node)
	return ok && m.State == gossip.StateAlive
}

func (g *nameGossip) Left(node string) bool {
	ml := g.ml.Load()
	if ml == nil {
		return true
	}
	m, ok := ml.Member(node)
	return !ok || m.State == gossip.StateLeft
}

func (g *nameGossip) Queue(msg []byte) { g.bq.Queue(msg) }

func (g *nameGossip) SendToAll(msg []byte) {
	if ml := g.ml.Load(); ml != nil {
		ml.SendToAll(msg)
	}
}

func (g *nameGossip) NotifyMsg(msg []byte) {
	if kv.IsEventualMessage(msg) {
		g.ekv.Merge(msg)
		return
	}
	g.svc.Merge(msg)
}

func (g *nameGossip) GetBroadcasts(overhead, limit int) [][]byte { return g.bq.Get(overhead, limit) }

func (g *nameGossip) LocalState(bool) []byte {
	return encodePushPull(g.svc.GossipState(), g.ekv.GossipState())
}

func (g *nameGossip) MergeRemoteState(buf []byte, _ bool) {
	names, ekv, err := decodePushPull(buf)
	if err != nil {
		g.ekv.CountMalformed() // counted there: the frame is the store's addition
		return
	}
	g.svc.Merge(names)
	if len(ekv) > 0 {
		g.ekv.Merge(ekv)
	}
}

var _ gossip.StateDelegate = (*nameGossip)(nil)
