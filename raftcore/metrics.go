package raftcore

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the core's Prometheus metrics (namespace conclave), read
// at scrape time from Status and Stats, so nothing here is on a hot path.
// The caller registers them; raft_state and raft_term are exported by api.
func (c *Core) Collectors() []prometheus.Collector {
	const ns = "conclave"
	count := func(suffrage string) func() float64 {
		return func() float64 {
			n := 0
			for _, s := range c.Status().Servers {
				if s.Suffrage == suffrage {
					n++
				}
			}
			return float64(n)
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_voters",
			Help: "Voters in the Raft configuration, as this node's copy of it has them (0 on a client node).",
		}, count("voter")),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_non_voters",
			Help: "Standbys (non-voting, fully replicated members) in the Raft configuration, as this node's copy of it has them.",
		}, count("nonvoter")),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_voter_churn_burst_total",
			Help: "Bursts of voter changes made by this node as leader: more than 3 within a minute, once the core has formed.",
		}, func() float64 { return float64(c.Stats().ChurnBursts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_leader_changes_total",
			Help: "Times this node learned of a new leader (after having none or another): elections it saw settle.",
		}, func() float64 { return float64(c.Stats().LeaderChanges) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_leader_loss_elections_total",
			Help: "Elections this node started without waiting out Raft's timers: its silent leader's mesh port refused connections (the process was gone), or a quorum of voters had not heard from the leader for a heartbeat timeout.",
		}, func() float64 { return float64(c.Stats().LeaderLossElections) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_early_appends_total",
			Help: "Entry batches this node, as leader, replicated while syncing them to its own log (early replication).",
		}, func() float64 { return float64(c.Stats().EarlyAppends) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_commit_index",
			Help: "Highest Raft log index this node knows to be committed.",
		}, func() float64 { return float64(c.Status().CommitIndex) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_applied_index",
			Help: "Highest Raft log index applied to this node's state machine.",
		}, func() float64 { return float64(c.Status().AppliedIndex) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_last_contact_seconds",
			Help: "Seconds since this node last heard from the Raft leader; 0 on the leader, on a client node and before any contact.",
		}, func() float64 { return c.Status().LastContact.Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_screened_commands_total",
			Help: "Commands this node, as leader, refused before proposing them because they break a limit (size, reserved prefix), whichever node sent them.",
		}, func() float64 { return float64(c.Stats().Screened) }),
	}
}
