// Package naming holds conclave's cluster-wide names (DESIGN §8): a session
// registers a name that any node can resolve, in one of four scopes.
//
//   - Local: a per-node map (Local). Instant, visible on this node only.
//   - Eventual: a state-based CRDT (Eventual) replicated by gossip: every
//     node owns the claims its sessions made and versions them; peers merge
//     claim by claim, keeping the higher version, so every node converges on
//     the same set and picks the same winner for a contested name (the
//     earliest claim; the lower PID on a tie).
//   - Consistent: a Raft-replicated table (Table), first write wins.
//   - Strong: the same table, but a registration is first a reservation that
//     every live node must acknowledge before it becomes a binding.
//
// Every state here is deterministic and does no I/O: the tables read no
// clock (the caller passes the time in), walk keys in sorted order and never
// let map iteration order reach a result or an encoding. Replicating them
// (Raft entries, gossip messages, internode acks) and telling sessions what
// happened is package cluster's job. The package imports nothing of ours.
//
// Concurrency: Table is driven by the Raft FSM's apply goroutine and read
// under the FSM's lock; it is not safe for concurrent use on its own. Local
// and Eventual are safe for concurrent use.
package naming
