package cluster

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
)

// registerMetrics exports the node's state on reg (DESIGN §12). Everything
// but the FSM apply histogram is read at scrape time from the components'
// own counters, so nothing here is on a hot path. conclave_raft_state and
// conclave_raft_term are exported by api (from RaftStatus), the request
// metrics too.
//
// Planes added later (names, groups) register their own collectors on the
// same registerer, next to these, with the conclave_ namespace.
func (n *Node) registerMetrics(reg prometheus.Registerer) error {
	const ns = "conclave"
	count := func(suffrage string) func() float64 {
		return func() float64 {
			c := 0
			for _, s := range n.core.Status().Servers {
				if s.Suffrage == suffrage {
					c++
				}
			}
			return float64(c)
		}
	}
	cs := []prometheus.Collector{
		n.fsm.applyLatency,
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
			Help: "Bursts of voter changes made by this node as leader: more than 3 within a minute.",
		}, func() float64 { return float64(n.core.Stats().ChurnBursts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_leader_changes_total",
			Help: "Times this node learned of a new leader (after having none or another): elections it saw settle.",
		}, func() float64 { return float64(n.core.Stats().LeaderChanges) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_commit_index",
			Help: "Highest Raft log index this node knows to be committed.",
		}, func() float64 { return float64(n.core.Status().CommitIndex) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_applied_index",
			Help: "Highest Raft log index applied to this node's state machine.",
		}, func() float64 { return float64(n.core.Status().AppliedIndex) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "raft_last_contact_seconds",
			Help: "Seconds since this node last heard from the Raft leader; 0 on the leader, on a client node and before any contact.",
		}, func() float64 { return n.core.Status().LastContact.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "gossip_health_score",
			Help: "memberlist's health (awareness) score: 0 is healthy; above 4 this node misses its own probe deadlines and fails its gossip health check.",
		}, func() float64 { return float64(n.ml.HealthScore()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "gossip_convergence_seconds",
			Help: "Estimated time for a gossip broadcast from this node to reach every member at the current size: " +
				"memberlist's retransmit window, RetransmitMult*ceil(log10(N+1)) gossip intervals (docs/operations.md).",
		}, func() float64 { return n.ml.DisseminationWindow().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "sessions",
			Help: "Sessions open on this node.",
		}, func() float64 { return float64(n.sessions.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "locks_held",
			Help: "Locks that have a holder, cluster-wide, in this node's replica of the lock table (0 on a client node).",
		}, func() float64 { return float64(n.lockTable.Held()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "fsm_rejected_commands_total",
			Help: "Committed commands the state machine refused as unknown or malformed (every replica refuses alike).",
		}, func() float64 { return float64(n.fsm.rejected.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "raft_screened_commands_total",
			Help: "Commands this node, as leader, refused before proposing them because they break a limit (size, reserved prefix), whichever node sent them.",
		}, func() float64 { return float64(n.core.Stats().Screened) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_malformed_meta_total",
			Help: "Peer gossip metadata that failed to decode and was ignored.",
		}, func() float64 { return float64(n.ml.Stats().MalformedMeta) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_rejected_foreign_total",
			Help: "Gossip merges and alive messages refused because the peer belongs to another cluster ID.",
		}, func() float64 { return float64(n.ml.Stats().RejectedForeign) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_rejected_messages_total",
			Help: "Inbound gossip packets and streams refused: malformed, over memberlist's limits, unencrypted or sealed with a key not in the keyring.",
		}, func() float64 { return float64(n.ml.Stats().RejectedMessages) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "keyring_malformed_requests_total",
			Help: "Internode keyring requests from peers that did not decode; refused.",
		}, func() float64 { return float64(n.ml.KeyringMalformed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "internode_connections",
			Help: "Open internode mesh sessions (TCP connections), inbound and outbound.",
		}, func() float64 { return float64(n.mesh.Stats().ConnectionsOpen) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "internode_malformed_total",
			Help: "Internode connections and streams dropped for a bad preamble, a malformed or oversize frame, or an unknown class.",
		}, func() float64 {
			s := n.mesh.Stats()
			return float64(s.BadPreambles + s.MalformedFrames + s.OversizeFrames + s.UnknownClass)
		}),
	}
	for _, r := range internode.RejectReasons {
		r := r
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "internode_rejected_total",
			Help: "Internode peers closed before being served, by reason: no_cert, bad_cert (another CA, expired, " +
				"no node identity), wrong_node (certificate names another node than claimed or dialed), handshake " +
				"(failed or timed out), protocol (not TLS or a bad preamble), limit (over a per-peer cap).",
			ConstLabels: prometheus.Labels{"reason": string(r)},
		}, func() float64 { return float64(n.mesh.Stats().Rejected[r]) }))
	}
	cs = append(cs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "internode_buffered_bytes",
			Help: "Bytes of internode request frames held now (reserved from each peer's buffer cap), all peers together.",
		}, func() float64 { return float64(n.mesh.Stats().BufferedBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "internode_sender_mismatch_total",
			Help: "Internode requests refused because the sender node they name is not the node of the connection's certificate.",
		}, func() float64 { return float64(n.impostors.Load()) }),
	)
	for _, st := range []gossip.State{gossip.StateAlive, gossip.StateSuspect, gossip.StateDead, gossip.StateLeft} {
		st := st
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "gossip_members",
			Help:        "Members in this node's gossip view by state (itself included; dead and left ones until forgotten).",
			ConstLabels: prometheus.Labels{"state": string(st)},
		}, func() float64 {
			c := 0
			for _, m := range n.ml.Members() {
				if m.State == st {
					c++
				}
			}
			return float64(c)
		}))
	}
	traffic := func(name, help string, read func() (in, out uint64)) []prometheus.Collector {
		var out []prometheus.Collector
		for _, dir := range []string{"in", "out"} {
			dir := dir
			out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: name, Help: help,
				ConstLabels: prometheus.Labels{"direction": dir},
			}, func() float64 {
				in, o := read()
				if dir == "in" {
					return float64(in)
				}
				return float64(o)
			}))
		}
		return out
	}
	cs = append(cs, traffic("gossip_bytes_total", "Bytes of gossip traffic (UDP packets and TCP push/pull).",
		func() (uint64, uint64) { s := n.ml.Stats(); return s.BytesIn, s.BytesOut })...)
	cs = append(cs, traffic("internode_bytes_total", "Bytes on the internode mesh's TCP connections (Raft, forwarding), framing included.",
		func() (uint64, uint64) { s := n.mesh.Stats(); return s.BytesIn, s.BytesOut })...)
	cs = append(cs, classCollector{mesh: n.mesh})
	cs = append(cs, n.nameCollectors()...)
	cs = append(cs, n.groupCollectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("cluster: register metrics: %w", err)
		}
	}
	return nil
}

// newApplyLatency is the FSM apply histogram. It is made before Raft starts
// (the FSM goroutine reads the field) and registered with the rest.
func newApplyLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "conclave", Name: "fsm_apply_duration_seconds",
		Help: "Time to apply one committed command to the local state machine, in seconds.",
		// 1 µs (a KV put) to ~16 ms (a release of a session holding many locks).
		Buckets: prometheus.ExponentialBuckets(1e-6, 2, 15),
	})
}

// classCollector exports the internode mesh's per-class stream and byte
// counters. Classes appear once they have seen traffic, so a scrape lists
// only the classes in use (raft and forward on every Raft member; groups
// and ack once those planes exist).
type classCollector struct{ mesh *internode.Mesh }

var (
	classBytesDesc = prometheus.NewDesc("conclave_internode_class_bytes_total",
		"Payload bytes on internode streams by stream class and direction (class byte and frame headers included, yamux framing not).",
		[]string{"class", "direction"}, nil)
	classStreamsDesc = prometheus.NewDesc("conclave_internode_class_streams_total",
		"Internode streams opened, by stream class and direction (in: accepted, out: opened by this node).",
		[]string{"class", "direction"}, nil)
)

func (c classCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- classBytesDesc
	ch <- classStreamsDesc
}

func (c classCollector) Collect(ch chan<- prometheus.Metric) {
	for class, s := range c.mesh.Stats().Classes {
		name := class.String()
		ch <- prometheus.MustNewConstMetric(classBytesDesc, prometheus.CounterValue, float64(s.BytesIn), name, "in")
		ch <- prometheus.MustNewConstMetric(classBytesDesc, prometheus.CounterValue, float64(s.BytesOut), name, "out")
		ch <- prometheus.MustNewConstMetric(classStreamsDesc, prometheus.CounterValue, float64(s.StreamsIn), name, "in")
		ch <- prometheus.MustNewConstMetric(classStreamsDesc, prometheus.CounterValue, float64(s.StreamsOut), name, "out")
	}
}
