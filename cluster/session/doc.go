// Package session is conclave's session table (DESIGN §3), read top to
// bottom:
//
//   - the session (session.go): an application's presence on this node,
//     with its PID, keepalive TTL, event stream and end; and the Event it
//     is told, domain-neutral (cluster's adapters turn lock notices, name
//     revocations and group messages into Events);
//   - the typed release commands (command.go): ReleaseSession and
//     ReleaseNode, the entries that free everything a session (or every
//     session of a node) owned in every table, in one Raft entry. The FSM
//     envelope parses them (ParseRelease) and applies them to each table
//     that holds things owned by sessions (a Releaser);
//   - the Service (service.go, duties.go): open, lookup, keepalive and end
//     of this node's sessions; the reaping of lapsed TTLs; the retry of
//     releases that found no quorum; the hooks run when a session ends;
//     the release of what a previous incarnation of this node (or an
//     earlier node of its name, on a wiped data dir) left behind, before
//     or beside the new sessions; and the leader's duty of declaring a
//     node gone once it has been dead in gossip for a grace period;
//   - the small interfaces the Service needs (ports.go): a Proposer (the
//     Raft core), Owners (which nodes and PIDs own something in the
//     tables), Members (gossip liveness) and a Clock. Package cluster
//     implements them and plugs the pieces together.
//
// It imports nothing of ours but internal/wire. It does not own the tables
// whose entries sessions hold (locks, names, groups), their events or the
// command envelope.
//
// Goroutines: Run (started once by cluster) runs the start-up release, the
// duty loop (reaping, and node-gone detection on the leader) and the
// release loop (pending releases), and returns once they have stopped.
// Every other method is safe for concurrent use from request goroutines,
// the FSM goroutine (Emit) and the gossip event loop.
package session
