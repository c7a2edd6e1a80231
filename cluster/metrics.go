package cluster

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics exports the node's state on reg (DESIGN §12). Each part
// describes its own metrics (Collectors, read at scrape time from its own
// counters, so nothing is on a hot path); cluster adds only what is its
// own: the FSM's apply histogram, rejected and checksum failure counters, and the mesh
// requests its sender check refused. conclave_raft_state and
// conclave_raft_term are exported by api (from RaftStatus), the request
// metrics too.
func (n *Node) registerMetrics(reg prometheus.Registerer) error {
	const ns = "conclave"
	cs := slices.Concat(
		[]prometheus.Collector{
			n.fsm.applyLatency,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "fsm_rejected_commands_total",
				Help: "Committed commands the state machine refused as unknown or malformed (every replica refuses alike).",
			}, func() float64 { return float64(n.fsm.rejected.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "fsm_checksum_failures_total",
				Help: "Committed entries whose checksum did not match their command; the first halts this node's state machine (see the fsm_integrity readiness check).",
			}, func() float64 { return float64(n.fsm.checksumFailures.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "fsm_state_hash_mismatches_total",
				Help: "Checkpoints at which this member's state hash differed from the one a majority of the members took at the same index (see the state_hash readiness check). Anything above 0 needs an operator.",
			}, func() float64 { return float64(n.fsm.hashes.mismatches.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "internode_sender_mismatch_total",
				Help: "Internode requests refused because the sender node they name is not the node of the connection's certificate.",
			}, func() float64 { return float64(n.impostors.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "lock_grant_hints_dropped_total",
				Help: "Lock grant hints this leader did not send because its queue was full; the waiter's replica delivers the grant instead.",
			}, func() float64 { return float64(n.hints.dropped.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "lock_grant_hints_refused_total",
				Help: "Lock grant hints received from a node this node does not know as the leader, or malformed; ignored.",
			}, func() float64 { return float64(n.hints.refused.Load()) }),
		},
		n.core.Collectors(),
		n.ml.Collectors(),
		n.mesh.Collectors(),
		n.sessions.Collectors(),
		n.lockTable.Collectors(),
		n.names.Collectors(),
		n.ekv.Collectors(),
		n.registry.Collectors(),
		n.groups.Collectors(),
	)
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
