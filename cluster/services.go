package cluster

import (
	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/pg"
	"github.com/conclave-dev/conclave/registry"
)

// The domain services the node runs, for api and the tests to call
// directly: cluster wires them, it does not stand between them and their
// callers. Each is built by New and lives as long as the node; their
// methods are safe for concurrent use and fail with the node's errors
// (ErrShutdown, ErrUnavailable, ...) once it stops.

// KV returns the replicated key-value service.
func (n *Node) KV() *kv.Service { return n.kv }

// Locks returns the lock service: acquires, releases and reads of the
// replicated lock table for the sessions open on this node.
func (n *Node) Locks() *locks.Service { return n.lockSvc }

// Names returns the name service: registrations in every scope, lookups
// and watches.
func (n *Node) Names() *naming.Service { return n.names }

// Groups returns the process-group service, which works without Raft.
// Once the node stops its calls fail with pg.ErrStopped.
func (n *Node) Groups() *pg.Service { return n.groups }

// ACL returns the access-control service: policies and tokens, and the
// resolution of a request's secret that every API door asks first.
func (n *Node) ACL() *acl.Service { return n.acl }

// Registry returns the service registry: registrations of the sessions
// open on this node, their health checks, and queries and blocking
// queries of the replicated table.
func (n *Node) Registry() *registry.Service { return n.registry }
