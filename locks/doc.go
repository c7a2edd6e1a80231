// Package locks is conclave's lock service (DESIGN §7), read top to bottom:
//
//   - the state: Table, the deterministic lock table (lock.go, table.go,
//     acquire.go, release.go, snapshot.go): holders, fencing tokens, FIFO
//     queues, lock_delay, and the events each step produces;
//   - the typed commands and their encodings (command.go): Acquire, Release
//     and Tick with their results, and the Get and List queries, the one
//     definition both sides use (TableID 2 in the command envelope);
//   - the replicated table (replicated.go): Replicated, which the FSM
//     envelope drives (Apply, Screen, Query, Snapshot, Restore,
//     ReleaseSession, ReleaseNode, Flush) and which collects each batch's
//     events with their entry index;
//   - the Service (service.go, sessions.go, contact.go, duty.go): acquire
//     with an optional wait, release, inspect, list, the leader's tick
//     when due, the contact checks (lock_at_risk, lock_safe, lock_lost),
//     what this node knows of its sessions' grants, and Run, the loop of
//     the tick and contact duties;
//   - semaphores (sem.go, sem_command.go, sem_service.go): locks with up
//     to Limit holders, in the same Table and its own namespace, sharing
//     the index check, the session and node releases and the tick; their
//     tokens are index*SemTokenScale+k (docs/coordination.md);
//   - elections (elect.go, elect_command.go, elect_service.go): a
//     semaphore of limit 1 under a key no name can take, whose leader and
//     candidates carry a value; Proclaim, Resign, Leader, and Observe,
//     which Deliver feeds one state per entry;
//   - the small interfaces the Service needs (ports.go): a Proposer (the
//     Raft core), Sessions (this node's session table) and a Clock.
//     Package cluster implements them and plugs the pieces together.
//
// It imports nothing of ours but internal/wire. It does not own sessions
// (their TTLs and streams live in package session), Raft, the command
// envelope, the release-session and release-node commands (package
// session's; the envelope calls ReleaseSession and ReleaseNode), or the
// node-gone decision (package session's, on the leader).
//
// The rest of this comment is about the state, Table.
//
// Determinism: every node applies the same calls in the same order and must
// reach the same state, byte for byte. So the table reads no clock (every
// mutating call carries the time the proposer wrote into the command), uses no
// randomness, does no I/O and never lets Go's map iteration order reach a
// result, an event list or the encoding: anything that walks several locks
// walks them sorted by name. The fencing token of a grant is the Raft index of
// the entry that made it; a mutating call whose index is not above the last
// token issued is rejected rather than risk a repeated token.
//
// Time: a waiter whose deadline is at or before the command's time has expired,
// and a lock_delay ends at its end time. Those transitions happen when a call
// touches the lock (Acquire, Release, auto-release) or on Tick, which the
// leader proposes at NextDeadline; so a lock is never granted to a waiter whose
// wait had already run out when the granting command was proposed (etcd#11456).
//
// Concurrency: a Table is not safe for concurrent use. Replicated calls it
// under its own lock: mutations from Raft's single apply goroutine, reads
// from any goroutine.
// Query methods return copies, so callers can never mutate the table.
package locks
