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
	traffic := func(name, help string, read func() (in, out uint64)) []prometheus.Collector {
		var out []prometheus.Collector
		for _, dir := range []string{"in", "out"} {
			dir := dir
			out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "conclave", Name: name, Help: help,
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
	cs = append(cs, traffic("internode_bytes_total", "Bytes on the internode mesh's TCP connections (Raft, forwarding).",
		func() (uint64, uint64) { s := n.mesh.Stats(); return s.BytesIn, s.BytesOut })...)
	cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "conclave", Name: "internode_connections",
		Help: "Open internode mesh sessions, inbound and outbound.",
	}, func() float64 { return float64(n.mesh.Stats().ConnectionsOpen) }))
	cs = append(cs, n.groupCollectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("cluster: register metrics: %w", err)
		}
	}
	return nil
}
