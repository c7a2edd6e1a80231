// Package locks is conclave's lock table: the deterministic state machine
// behind distributed locks (DESIGN §7).
//
// It owns:
//   - the table of live locks: for each lock its holder PID, fencing token,
//     grant time, FIFO queue of waiters and optional lock_delay state;
//   - the rules: fail-fast or queued acquire, idempotent re-acquire, release
//     with hand-off to the first live waiter in the same Raft entry,
//     auto-release of a session's or a node's locks (with lock_delay), expiry
//     of waits, and the limits (name syntax, MaxWaiters, MaxLockDelay);
//   - the events each step produces (Granted, Released, AutoReleased,
//     WaitExpired, WaitCancelled), which tell the caller whom to notify;
//   - a canonical binary snapshot encoding (MarshalBinary/UnmarshalBinary).
//
// It does not own: sessions (their TTLs and streams live on the node the app
// is connected to), notifying anybody (the cluster layer turns Events into
// session-stream messages), Raft, command encoding or proposing (package
// cluster wraps each call in one FSM command), or clocks. It imports nothing of
// ours.
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
// Concurrency: a Table is not safe for concurrent use. The FSM calls it from
// Raft's single apply goroutine (Apply, Snapshot and Restore are serialised by
// hashicorp/raft); anything reading it concurrently must hold the FSM's lock.
// Query methods return copies, so callers can never mutate the table.
package locks
