// Package raftcore is conclave's bounded consensus core (DESIGN §4-§6):
// hashicorp/raft with its log in hashicorp/raft-wal (or raft-boltdb/v2, by
// Config.LogStore; logstore.go), a raft-boltdb/v2 stable store and file
// snapshots under the data dir, bootstrap by bootstrap_expect (0, 1 or N,
// never twice), the leader's reconciler that keeps at most max_voters
// voters spread over failure domains plus max_standbys standbys (a pure
// planner, plan.go, and a thin applier, reconcile.go), forwarding of
// proposals and reads to the leader, and the read modes stale, default and
// consistent.
//
// Admission: a node joins the configuration as a standby only after it has
// been alive in gossip for the stabilisation window, and is promoted to
// voter only once it has also been caught up with the leader's log for the
// window (the leader asks standbys their log position over the forward
// protocol), whatever the size of the core; with manual admission it must
// also be in the replicated admitted set (Admissions). Every command the
// leader proposes, its own or a forwarded one, first passes the Screener.
//
// It takes the state machine (a raft.FSM and a Querier) from outside and
// knows nothing of locks, names or keys. It reads membership through the
// View interface and reaches peers through a raft.StreamLayer and a
// Requester, both supplied by package cluster (gossip and the internode
// mesh); it imports nothing of ours.
//
// It reaches hashicorp/raft through raftNode (raft.go), the few methods of
// *raft.Raft it calls. Its stores may be given WithStores (tests run a Core
// on raft's in-memory stores); by default it opens them under Config.Dir.
//
// Outcomes: an error before an entry is accepted is safe to retry
// (ErrUnavailable, ErrNotSent); once accepted, an entry whose result is not
// known (leadership lost, shutdown) fails ErrOutcomeUnknown and is never
// retried here, since it may have been applied.
package raftcore
