package api

import (
	"context"

	"github.com/conclave-dev/conclave/cluster"
)

// Optional abilities of a Node. The Server checks for each with a type
// assertion when it is built and serves the matching endpoints (or richer
// answers) only when the node has it, so Node stays the small core every
// node implements. *cluster.Node (through ClusterNode) implements all of
// them.
//
// Planes added later plug in the same way, each with its own file:
//
//	NamesNode  -> gRPC Names service (grpc_names.go), REST /v1/names, status page "Names"
//	GroupsNode -> gRPC Groups service, REST /v1/groups, status page "Groups"
//	KeyringNode -> gRPC Keyring service (grpc_keyring.go)
//
// registered in New next to the health handlers (see registerOptional).

// HealthNode runs the node's named health checks (DESIGN §12). Both methods
// are called from HTTP handler goroutines, concurrently, and must not
// block. Without it, /v1/health/live reports only that the API serves and
// /v1/health/ready only whether RaftStatus names a leader.
type HealthNode interface {
	// Liveness runs the checks whose failure means "restart me".
	Liveness() []cluster.CheckResult
	// Readiness runs the liveness checks and those whose failure means
	// "send me no traffic".
	Readiness() []cluster.CheckResult
}

var _ HealthNode = (*cluster.Node)(nil)

// AdmitNode records operator admissions for raft.admission: manual. Called
// from gRPC handler goroutines, concurrently; Admit blocks until the entry
// commits or ctx ends. Without it, Cluster.Admit fails Unimplemented.
type AdmitNode interface {
	// Admit adds node to the replicated admitted set.
	Admit(ctx context.Context, node string) error
}

var _ AdmitNode = (*cluster.Node)(nil)
