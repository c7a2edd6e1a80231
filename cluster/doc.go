// Package cluster builds a conclave node from its configuration and is the
// only package that wires the others together (DESIGN §2). It holds no
// domain rules: those live in the domain packages (kv, locks, naming, pg),
// each a deterministic table with typed commands, a replicated table, and a
// service behind the small interfaces it declares; cluster passes them real
// implementations (adapters.go, names.go, groups.go, sessions.go).
//
// What cluster owns:
//
//   - the FSM envelope (fsm.go): a command is wire.Command's header
//     (version, table, op) and the table's fields; the envelope dispatches
//     it to the table registered under its number (Table, table.go),
//     fans release-session and release-node out to every table that holds
//     things owned by sessions, and writes one snapshot of every table. A
//     new table is written in its package and registered in New with one
//     line;
//   - the node's sessions (package cluster/session): open, keepalive,
//     events, end, and the release of what they owned;
//   - the mapping from config to each package's Config, the node's start,
//     graceful stop (Shutdown), leave (Leave) and crash-like stop (Close);
//   - the node-level views the API shows (Members, RaftStatus, health
//     checks, metrics).
//
// What runs where. New builds, in order: the session service, the name
// service (its table and gossip delegate), the lock table and service, the
// admitted set, the FSM with every table registered, the internode mesh,
// gossip, the Raft core, the KV service and the groups service. It then
// starts these goroutines, each owned by the Node (its context and
// WaitGroup; Shutdown, Leave and Close cancel and wait for every one):
//
//   - gossip.Membership.Run: joins, periodic rejoin when isolated;
//   - raftcore.Core.Run: bootstrap_expect, the leader's reconciler, the
//     gossip advert of the Raft state;
//   - session.Service.Run: the release of a previous incarnation's sessions
//     (sessions open only after it, or at once on a fresh data dir), TTL
//     reaping, the leader's node-gone release, retries of pending releases;
//   - locks.Service.Run: the leader's tick when a wait or lock delay is due,
//     the contact checks that tell lock holders lock_at_risk / lock_safe /
//     lock_lost;
//   - naming.Service.Run: eventual-name deltas too large for a gossip
//     packet, tombstone compaction;
//   - pg.Service.Run: group deltas, anti-entropy, the heartbeat group;
//   - health.Checker.Run (cluster/health): the FSM catch-up sampler of the
//     readiness check; and the gossip event pump (New), which
//     tells the core, the name service and the groups service of joins and
//     failures.
//
// Goroutines owned by others call in: hashicorp/raft's FSM goroutine calls
// the envelope's ApplyBatch (then each table's Flush, which hands lock
// events to the lock service and name events to the watchers), Snapshot
// and Restore; the mesh's stream handlers call raftcore's HandleForward,
// the name service's HandleAck, gossip's HandleKeyring and the groups
// service's Handle; API request goroutines call the services directly
// (Node.KV, Locks, Names, Groups) and the Node's views.
package cluster
