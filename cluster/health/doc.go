// Package health is a node's health checks (DESIGN §12): the timing policy
// that decides whether a node should be restarted (liveness) or should get
// no client traffic (readiness).
//
// The Checker runs the built-in checks, in this order, then any added with
// Add:
//
//   - gossip: memberlist's health score against a ceiling, a warning only
//     during the boot grace;
//   - raft_contact: how long a Raft follower has not heard from a leader,
//     with a shorter limit for a voter than for a standby; the leader
//     passes and a client node (not in the Raft configuration) is exempt;
//   - groups_heartbeat: how long no process-group heartbeat has come from
//     any peer, when peers are alive in gossip;
//   - leader (readiness only): a leader is known, from Raft on a member,
//     from the members' gossip adverts on a client node;
//   - fsm (readiness only): the local state machine has applied every
//     entry known committed one to two sample intervals ago;
//   - raft_lag (readiness only): a Raft follower is at most MaxLagEntries
//     behind the commit index it knows and heard from the leader within
//     MaxLagTime; the leader and client nodes are exempt;
//   - disk_free (readiness only): the filesystem holding the data dir has
//     at least MinDiskFree bytes free, a warning below twice that.
//
// It declares the small views it reads (ports.go): Gossip, Raft, Groups
// and Disk (StatfsDisk is the real one), and a Clock. Package cluster implements them over its gossip membership,
// Raft core and groups service, and starts Run. The package imports nothing
// of ours; it owns no state but its added checks and the commit-index
// samples.
//
// Goroutines: Run (started once by cluster) samples the commit index for
// the fsm check until its context ends. Liveness, Readiness and Add are
// called concurrently from HTTP handler goroutines and from cluster's
// wiring; the checks read state and never block.
package health
