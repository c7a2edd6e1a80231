package api

import (
	"context"
	"errors"
	"time"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/pg"
	"github.com/conclave-dev/conclave/registry"
)

// Services is what a Server serves: one field per service, each a small
// interface declared beside the handlers that call it. Cluster is required:
// it names the node, and /metrics and the fallback health checks read its
// Raft view. Every other field may be nil, and then that service is not
// served: its gRPC calls fail Unimplemented and its REST endpoints answer
// NotFound (without Admit, the Cluster service's Admit call fails
// Unimplemented; without Health, the fallback checks answer).
//
// The handlers call every method concurrently, from request goroutines;
// the methods that take a ctx may block until it ends and must honour it.
// Returned slices are owned by the caller. Errors are expected to wrap
// cluster's sentinels (ErrNotFound, ErrLockHeld, ...) so they map onto
// gRPC codes (status.go).
type Services struct {
	Cluster ClusterNode // conclave.v1.Cluster, /v1/members, /v1/raft, /v1/sd/prometheus
	Admit   AdmitNode   // Cluster.Admit
	KV      KVNode      // conclave.v1.KV, /v1/kv
	// EventualKV is the eventual store of KV requests with store
	// STORE_EVENTUAL (?store=eventual); nil refuses them Unimplemented.
	EventualKV EventualKVNode
	Sessions   SessionNode // conclave.v1.Session
	Locks      LockNode    // conclave.v1.Lock, /v1/locks
	// Semaphores is conclave.v1.Semaphore, /v1/semaphores.
	Semaphores SemaphoreNode
	// Elections is conclave.v1.Election, /v1/elections.
	Elections ElectionNode
	Names     NameNode  // conclave.v1.Names, /v1/names
	Groups    GroupNode // conclave.v1.Groups, /v1/groups
	// Registry is conclave.v1.Registry, /v1/services,
	// /v1/sd/prometheus?service= and the status page's services.
	Registry RegistryNode
	Keyring  KeyringNode // conclave.v1.Keyring
	Health   HealthNode  // /v1/health/live, /v1/health/ready
	// Operator is conclave.v1.Operator (snapshots, peer removal).
	Operator OperatorNode
	// ACL is access control: nil serves no conclave.v1.ACL and enforces
	// nothing (the API's own tests); a node whose ACLs are off resolves
	// every caller to allow-all.
	ACL ACLNode
}

// errNoCluster refuses Services without the one required field.
var errNoCluster = errors.New("api: services: Cluster is required")

// ServicesOf serves everything a *cluster.Node does: the node itself for
// the cluster-wide calls, its domain services for the rest.
func ServicesOf(n *cluster.Node) Services {
	return Services{
		Cluster:    n,
		Admit:      n,
		KV:         n.KV(),
		EventualKV: n.EventualKV(),
		Sessions:   sessionsOf(n),
		Locks:      n.Locks(),
		Semaphores: n.Locks(),
		Elections:  n.Locks(),
		Names:      n.Names(),
		Groups:     n.Groups(),
		Registry:   n.Registry(),
		Keyring:    n,
		Health:     n,
		ACL:        n.ACL(),
		Operator:   n,
	}
}

// sessionsOf is the node's OpenSession handing out the Session interface
// instead of the concrete *cluster.Session, which only cluster can make
// (the Session service's tests drive a fake one).
func sessionsOf(n *cluster.Node) SessionNode {
	return OpenSessionFunc(func(ctx context.Context, ttl time.Duration) (Session, error) {
		s, err := n.OpenSession(ctx, ttl)
		if err != nil {
			// A nil *cluster.Session in a non-nil interface would defeat
			// the handler's nil check.
			return nil, err
		}
		return s, nil
	})
}

// The API must be able to serve the real node and its services.
var (
	_ ClusterNode    = (*cluster.Node)(nil)
	_ AdmitNode      = (*cluster.Node)(nil)
	_ KVNode         = (*kv.Service)(nil)
	_ EventualKVNode = (*kv.EventualService)(nil)
	_ Session        = (*cluster.Session)(nil)
	_ LockNode       = (*locks.Service)(nil)
	_ SemaphoreNode  = (*locks.Service)(nil)
	_ ElectionNode   = (*locks.Service)(nil)
	_ NameNode       = (*naming.Service)(nil)
	_ GroupNode      = (*pg.Service)(nil)
	_ RegistryNode   = (*registry.Service)(nil)
	_ KeyringNode    = (*cluster.Node)(nil)
	_ HealthNode     = (*cluster.Node)(nil)
	_ ACLNode        = (*acl.Service)(nil)
	_ OperatorNode   = (*cluster.Node)(nil)
)
