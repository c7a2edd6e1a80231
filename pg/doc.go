// Package pg is conclave's process groups (DESIGN §9), modelled on Erlang's
// pg: scopes and groups named by strings, which sessions (PIDs
// "<node>/<session-id>") join and leave; broadcast to every member or to the
// local ones only; member lists; and monitors that see joins and leaves.
//
// Groups do not use Raft. Each node owns its local memberships and is the
// only node that announces them: a full sync exchange when a peer appears
// (the two nodes swap their own memberships in one request/reply), a delta
// per change (carrying the owner's incarnation and sequence numbers, so a
// duplicate or stale delta is ignored and a gap asks for a full sync), and an
// anti-entropy loop that compares versions with every peer and repairs any
// divergence with a full sync. A node that gossip reports gone takes its
// members with it on every node.
//
// It owns:
//   - State: the deterministic membership table (per owner node, per group,
//     the PIDs), with local join/leave, remote sync and delta application,
//     per-node versions for anti-entropy and dropping a node. Pure: no
//     network, clock or logger; unit-tested on its own.
//   - the wire format of class "groups" on the internode mesh (wire.go),
//     in internal/wire's codec;
//   - the group rules of requests (members.go): the default scope, the
//     name rules (internal/wire's, reserved names readable only), that a
//     session named by a write is open on this node, and that a session
//     ending while it joins keeps no membership;
//   - Service: State plus the replication links to peers, broadcast fan-out
//     (one internode send per destination node, never per member), monitors,
//     and the internal heartbeat group (scope "_sys", group "heartbeat") that
//     every node broadcasts a beat to, for the liveness check.
//
// It does not own: sessions (reached through the Sessions interface:
// whether one is open and its Done channel, and delivery onto its stream;
// package cluster implements it and calls LeaveAll when a session ends),
// the gossip view or the mesh (reached through the View and Transport
// interfaces that cluster implements), or gRPC. Of ours it imports only
// internal/wire.
//
// Concurrency: State is not safe for concurrent use; Service guards it with
// one mutex. Service methods are safe for concurrent use. Service.Run owns
// every goroutine the Service starts (one per peer link, plus the
// anti-entropy and heartbeat ticks) and waits for them before returning.
// Handle is called by the mesh, one goroutine per request.
package pg
