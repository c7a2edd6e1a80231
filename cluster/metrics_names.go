package cluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/naming"
)

// nameCollectors export the name service: names per scope as this node
// sees them, eventual-name revocations, and malformed gossip dropped.
func (n *Node) nameCollectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for _, sc := range []naming.Scope{naming.ScopeLocal, naming.ScopeEventual, naming.ScopeConsistent, naming.ScopeStrong} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "names",
			Help:        "Names bound, by scope, as this node sees them: local and eventual as held here, consistent and strong in this node's Raft replica (0 on a client node).",
			ConstLabels: prometheus.Labels{"scope": sc.String()},
		}, func() float64 { return float64(n.names.Count(sc)) }))
	}
	cs = append(cs,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "conclave", Name: "names_revocations_total",
			Help: "Eventual names of this node's sessions revoked because another origin's claim won.",
		}, func() float64 { return float64(n.names.Stats().Revocations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "conclave", Name: "names_malformed_total",
			Help: "Eventual-name gossip messages and strong-name ack requests dropped as malformed.",
		}, func() float64 { return float64(n.names.Stats().Malformed) }),
	)
	return cs
}
