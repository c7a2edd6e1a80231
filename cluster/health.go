package cluster

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/cluster/health"
	"github.com/conclave-dev/conclave/config"
)

// Health check statuses. A check that warns does not fail its endpoint.
const (
	HealthPass = health.Pass
	HealthWarn = health.Warn
	HealthFail = health.Fail
)

// HealthCheck is one named check of the node's health (DESIGN §12); the
// built-in ones and their thresholds are package cluster/health's. Other
// planes add theirs with AddHealthCheck, for example the process-group
// heartbeat.
type HealthCheck = health.Check

// CheckResult is one check's outcome.
type CheckResult = health.Result

// AddHealthCheck adds a check to the node's liveness (and readiness)
// output, or to readiness only with c.ReadyOnly. Call it before the API
// serves; it is safe at any time.
func (n *Node) AddHealthCheck(c HealthCheck) { n.health.Add(c) }

// Liveness runs the liveness checks: gossip, raft_contact and
// groups_heartbeat, then any added ones. A failing liveness check means a
// supervisor should restart the node.
func (n *Node) Liveness() []CheckResult { return n.health.Liveness() }

// Readiness runs the liveness checks plus leader (a leader is known),
// fsm (the local state machine has caught up), raft_lag (a follower is not
// far behind the leader), disk_free (the data dir's filesystem has room)
// and fsm_integrity (it has not halted on a checksum mismatch), then any
// added ones. A node that is not ready should get no client traffic.
func (n *Node) Readiness() []CheckResult { return n.health.Readiness() }

// checkIntegrity is the fsm_integrity readiness check: it fails once the
// FSM has halted on a checksum mismatch, naming the index.
func (f *fsm) checkIntegrity(time.Time) (string, string) {
	if at, ok := f.halted(); ok {
		return HealthFail, fmt.Sprintf("state machine halted at index %d: checksum mismatch; restore this node from a snapshot or wipe its data and rejoin", at)
	}
	return HealthPass, ""
}

// checkLogStore is the log_store readiness check: it fails while appends to
// the Raft log fail (a full disk, a broken store): the node cannot take new
// entries, and falls further behind with every write.
func (n *Node) checkLogStore(now time.Time) (string, string) {
	since, err := n.core.LogStoreFailing()
	if since.IsZero() {
		return HealthPass, ""
	}
	return HealthFail, fmt.Sprintf("appending to the Raft log has failed for %s: %v; free space on the data dir's disk (see disk_free) or replace it",
		now.Sub(since).Round(time.Second), err)
}

// newHealth builds the node's health checks; the boot grace starts now.
// The views read n.ml, n.core and n.groups when a check runs, so they may
// be built later in New (checks run once the API serves). The operator's
// cluster.health thresholds apply in local (test) clusters too.
func (n *Node) newHealth(local bool) (*health.Checker, error) {
	cfg := healthConfig(n.cfg, local)
	return health.New(cfg, health.Deps{Gossip: healthGossip{n}, Raft: healthRaft{n}, Groups: healthGroups{n}, Disk: health.StatfsDisk{}},
		health.WithClock(n.clock))
}

// healthConfig is the checks' config of a node with cfg: the built-in
// thresholds (local: an in-process test cluster's) with cluster.health's.
// cfg is validated, so the conversions below do not wrap.
func healthConfig(cfg config.Config, local bool) health.Config {
	hc := health.DefaultConfig(cfg.Cluster.Name, cfg.Cluster.DataDir)
	if local {
		hc = health.DefaultLocalConfig(cfg.Cluster.Name, cfg.Cluster.DataDir)
	}
	h := cfg.Cluster.Health
	hc.MaxLagEntries = uint64(h.MaxLagEntries)
	hc.MaxLagTime = h.MaxLagTime.Duration()
	hc.MinDiskFree = uint64(h.MinDiskFreeBytes)
	return hc
}

// healthGossip is the gossip membership as the health checks read it.
type healthGossip struct{ n *Node }

func (g healthGossip) HealthScore() int         { return g.n.ml.HealthScore() }
func (g healthGossip) NumAlive() int            { return g.n.ml.NumAlive() }
func (g healthGossip) AdvertisedLeader() string { return leaderName("", g.n.ml.Members()) }

// healthRaft is the Raft core as the health checks read it.
type healthRaft struct{ n *Node }

func (r healthRaft) CommitIndex() uint64 { return r.n.core.CommitIndex() }

func (r healthRaft) Status() health.RaftStatus {
	st := r.n.core.Status()
	out := health.RaftStatus{
		State: st.State, Member: st.Member, LeaderID: st.LeaderID, Term: st.Term, LastContact: st.LastContact,
		AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex, Servers: make([]health.Server, len(st.Servers)),
	}
	for i, s := range st.Servers {
		out.Servers[i] = health.Server{ID: s.ID, Suffrage: s.Suffrage}
	}
	return out
}

// healthGroups is the groups service as the heartbeat check reads it.
type healthGroups struct{ n *Node }

func (g healthGroups) LastBeat() (string, time.Time) { return g.n.groups.LastBeat() }
