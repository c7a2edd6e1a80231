// Package naming holds conclave's cluster-wide names (DESIGN §8): a session
// registers a name that any node can resolve, in one of four scopes.
//
//   - Local: a per-node map (Local). Instant, visible on this node only.
//   - Eventual: a state-based CRDT (Eventual) replicated by gossip: every
//     node owns the claims its sessions made and versions them; peers merge
//     claim by claim, keeping the higher version, so every node converges on
//     the same set and picks the same winner for a contested name (the
//     earliest claim; the lower PID on a tie).
//   - Consistent: a Raft-replicated table (Table over State), first write
//     wins.
//   - Strong: the same table, but a registration is first a reservation that
//     every live node must acknowledge before it becomes a binding.
//
// The package reads top to bottom as: the pure states (State, Local,
// Eventual), deterministic and without I/O (they read no clock: the caller
// passes the time in; they walk keys in sorted order and never let map
// iteration order reach a result or an encoding); the typed commands of the
// replicated table (commands.go, TableID 3) and its refusals (errors.go:
// codes 7-9); the replicated Table, which cluster's FSM envelope drives;
// and the Service, which serves the four scopes to cluster's Node through
// the small interfaces it declares (Proposer, Members, Acker, Sessions,
// Broadcaster) and an injected clock. It imports only internal/wire of
// ours: replicating commands, carrying gossip and acks, and owning
// sessions are cluster's job.
//
// Concurrency: State is not safe for concurrent use; Table guards it with
// its own lock (Apply, releases, Snapshot, Restore and Flush come from the
// FSM goroutine, Screen, Query and the readers from request goroutines).
// Local, Eventual and Service are safe for concurrent use. Service.Run owns
// the Service's one goroutine (the sender of large eventual deltas);
// strong registrations ask their peers from goroutines that end before
// Register returns.
package naming
