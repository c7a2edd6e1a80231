// Package registry is conclave's service registry (issue 16; operators'
// guide in docs/registry.md): instances that sessions announce
// ({service, id, endpoint, protocol, type, tags, groups, meta, checks}),
// their health, and the queries and blocking queries over them. An
// instance ends with its session, exactly as a name does: the envelope's
// release-session and release-node entries remove it.
//
// The plane is Raft (like Consul's catalog), table TableID (6):
// registrations and health transitions are rare writes; every node must
// give the same answer (DNS on any node); the Raft index is a
// cluster-wide, monotonic index for blocking queries, so a client can move
// between agents; and a node's death is handled by the leader's
// release-node. Reads are served from the local replica (stale-allowed),
// so discovery keeps answering with the last state in a minority
// partition; only writes need a quorum. A node without a replica (a
// client node) mirrors a server's table.
//
// Health checks run on the agent of the instance's session (http, tcp,
// grpc, ttl); only transitions, after their thresholds, go through Raft,
// and last_seen is replicated at most every Config.LastSeenInterval in one
// batched command per node.
//
// The package reads top to bottom as: the pure State (state.go),
// deterministic and without I/O (no clock: the proposer writes the time
// into the command; sorted iteration); the typed commands (commands.go)
// and their validation (validate.go), one check behind both the leader's
// screen and the apply; the refusals (errors.go: code 11); the replicated
// Table (table.go), which cluster's FSM envelope drives; and the Service
// (service.go, run.go, monitor.go, probe.go, mirror.go), which serves
// cluster's Node and api through the small interfaces it declares
// (Proposer, Sessions, Prober) and an injected clock. It imports only
// internal/wire of ours.
//
// Concurrency: State is not safe for concurrent use; Table guards it with
// its own lock (Apply, releases, Snapshot and Restore come from the FSM
// goroutine; Screen, Query and the readers from request goroutines).
// Service is safe for concurrent use; Run owns every goroutine it starts
// (one per check of each local instance and a reporter per instance, the
// mirror poller) and returns once they have stopped.
package registry
