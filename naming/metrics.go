package naming

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the name service's Prometheus metrics (namespace
// conclave): names per scope as this node sees them, eventual-name
// revocations, and malformed gossip dropped. The caller registers them.
func (s *Service) Collectors() []prometheus.Collector {
	const ns = "conclave"
	var cs []prometheus.Collector
	for _, sc := range []Scope{ScopeLocal, ScopeEventual, ScopeConsistent, ScopeStrong} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "names",
			Help:        "Names bound, by scope, as this node sees them: local and eventual as held here, consistent and strong in this node's Raft replica (0 on a client node).",
			ConstLabels: prometheus.Labels{"scope": sc.String()},
		}, func() float64 { return float64(s.Count(sc)) }))
	}
	return append(cs,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "names_revocations_total",
			Help: "Eventual names of this node's sessions revoked because another origin's claim won.",
		}, func() float64 { return float64(s.Stats().Revocations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "names_malformed_total",
			Help: "Eventual-name gossip messages and strong-name ack requests dropped as malformed.",
		}, func() float64 { return float64(s.Stats().Malformed) }),
	)
}
