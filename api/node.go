package api

import (
	"context"
	"time"

	"github.com/conclave-dev/conclave/cluster"
)

// Node is what the API serves: the methods of *cluster.Node that the
// handlers call (sessions through the Session interface below; ClusterNode
// adapts a *cluster.Node). gRPC and HTTP handlers call every method
// concurrently, from request goroutines; the methods that take a ctx may
// block until it ends and must honour it. Returned slices are owned by the
// caller. Errors are expected to wrap cluster's sentinels (ErrNotFound,
// ErrLockHeld, ...) so they map onto gRPC codes.
type Node interface {
	// Name is the node's name; called for logs, metrics, health output and
	// error messages.
	Name() string
	// Members is the node's membership view; must not block.
	Members() []cluster.Member
	// RaftStatus is the node's Raft view; must not block. It is also read
	// on every /metrics scrape.
	RaftStatus() cluster.RaftStatus
	// KVGet reads key in mode; blocks for a leader round unless stale.
	KVGet(ctx context.Context, key string, mode cluster.ReadMode) (cluster.KVEntry, error)
	// KVList lists keys with prefix in key order, at most limit (0 = all).
	KVList(ctx context.Context, prefix string, limit int, mode cluster.ReadMode) ([]cluster.KVEntry, error)
	// KVPut writes unconditionally; blocks until committed. value is the
	// request's buffer, which the node may keep (the handler never reuses it).
	KVPut(ctx context.Context, key string, value []byte) (cluster.KVEntry, error)
	// KVCompareAndSet writes only at version (0 = only if absent); blocks
	// until committed. Same buffer rule as KVPut.
	KVCompareAndSet(ctx context.Context, key string, value []byte, version uint64) (cluster.KVEntry, error)
	// KVDelete deletes key, only at version when version > 0; blocks until
	// committed.
	KVDelete(ctx context.Context, key string, version uint64) error
	// Leave makes the node leave the cluster and stop. The Leave handler
	// still returns its response afterwards, so the caller must stop this
	// Server gracefully (cancel Serve's ctx) rather than Close it.
	Leave(ctx context.Context) error

	// OpenSession opens a session with the keepalive ttl (0 = the node's
	// default); called once per Session.Connect stream. It may block while
	// the node is still releasing a previous incarnation's sessions.
	OpenSession(ctx context.Context, ttl time.Duration) (Session, error)
	// LockAcquire takes the lock name for the session pid open on this
	// node and returns the fencing token; with opts.Wait it blocks up to
	// that long (or until ctx ends) for the grant.
	LockAcquire(ctx context.Context, pid, name string, opts cluster.AcquireOptions) (uint64, error)
	// LockRelease releases name if pid holds it (or drops pid from its
	// queue); blocks until committed.
	LockRelease(ctx context.Context, pid, name string) error
	// LockInspect reads one lock in mode; ErrNotFound when it is free and
	// nobody waits.
	LockInspect(ctx context.Context, name string, mode cluster.ReadMode) (cluster.LockInfo, error)
	// LockList reads the locks whose names start with prefix, by name.
	LockList(ctx context.Context, prefix string, mode cluster.ReadMode) ([]cluster.LockInfo, error)
}

// Session is one open session as the Session service drives it: the
// methods of *cluster.Session it calls. The stream's handler goroutine
// reads Events and Done and calls Close; its receive goroutine calls
// Keepalive, concurrently. None of them blocks except Close.
type Session interface {
	// PID is "<node>/<session-id>", the holder named in locks.
	PID() string
	// TTL is the keepalive TTL in force.
	TTL() time.Duration
	// Events delivers what happens to the session's locks. The node never
	// blocks on it (it drops the oldest event when the buffer is full);
	// it may be closed when the session ends.
	Events() <-chan cluster.SessionEvent
	// Done is closed when the session has ended, by Close, by its TTL
	// lapsing or by the node stopping.
	Done() <-chan struct{}
	// Keepalive restarts the TTL; must not block.
	Keepalive()
	// Close ends the session and releases everything it held; blocks
	// until that is committed or ctx ends. Calling it on an ended session
	// is harmless.
	Close(ctx context.Context) error
}

// ClusterNode adapts the real node to Node: it differs from *cluster.Node
// only in returning its sessions as the Session interface, which lets the
// API's tests drive a fake session (a *cluster.Session can only be made
// inside cluster).
func ClusterNode(n *cluster.Node) Node { return clusterNode{n} }

type clusterNode struct{ *cluster.Node }

func (n clusterNode) OpenSession(ctx context.Context, ttl time.Duration) (Session, error) {
	s, err := n.Node.OpenSession(ctx, ttl)
	if err != nil {
		// A nil *cluster.Session in a non-nil interface would defeat the
		// caller's nil check.
		return nil, err
	}
	return s, nil
}

// The API must be able to serve the real node.
var (
	_ Node    = clusterNode{}
	_ Session = (*cluster.Session)(nil)
)
