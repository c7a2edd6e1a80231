package cluster

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics exports the Raft core's shape on reg: the counts come
// from this node's copy of the configuration (0 on a client node).
func (n *Node) registerMetrics(reg prometheus.Registerer) error {
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
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "raft_voters",
			Help: "Voters in the Raft configuration, as this node's copy of it has them (0 on a client node).",
		}, count("voter")),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "raft_non_voters",
			Help: "Standbys (non-voting, fully replicated members) in the Raft configuration, as this node's copy of it has them.",
		}, count("nonvoter")),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "conclave", Name: "raft_voter_churn_burst_total",
			Help: "Bursts of voter changes made by this node as leader: more than 3 within a minute.",
		}, func() float64 { return float64(n.core.Stats().ChurnBursts) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("cluster: register metrics: %w", err)
		}
	}
	return nil
}
