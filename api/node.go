package api

import (
	"context"

	"github.com/conclave-dev/conclave/cluster"
)

// Node is what the API serves: exactly the methods of *cluster.Node that
// the handlers call. gRPC and HTTP handlers call every method concurrently,
// from request goroutines; the methods that take a ctx may block until it
// ends and must honour it. Returned slices are owned by the caller.
// Errors are expected to wrap cluster's sentinels (ErrNotFound,
// ErrVersionMismatch, ...) so they map onto gRPC codes.
type Node interface {
	// Name is the node's name; called for logs, metrics and health output.
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
}

// The API must be able to serve the real node.
var _ Node = (*cluster.Node)(nil)
