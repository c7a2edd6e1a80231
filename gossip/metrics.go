package gossip

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the membership's Prometheus metrics (namespace conclave),
// read at scrape time from its own counters and view. The caller
// registers them.
func (m *Membership) Collectors() []prometheus.Collector {
	const ns = "conclave"
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "gossip_health_score",
			Help: "memberlist's health (awareness) score: 0 is healthy; above 4 this node misses its own probe deadlines and fails its gossip health check.",
		}, func() float64 { return float64(m.HealthScore()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "gossip_convergence_seconds",
			Help: "Estimated time for a gossip broadcast from this node to reach every member at the current size: " +
				"memberlist's retransmit window, RetransmitMult*ceil(log10(N+1)) gossip intervals (docs/operations.md).",
		}, func() float64 { return m.DisseminationWindow().Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_malformed_meta_total",
			Help: "Peer gossip metadata that failed to decode and was ignored.",
		}, func() float64 { return float64(m.Stats().MalformedMeta) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_rejected_foreign_total",
			Help: "Gossip merges and alive messages refused because the peer belongs to another cluster ID.",
		}, func() float64 { return float64(m.Stats().RejectedForeign) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_rejected_messages_total",
			Help: "Inbound gossip packets and streams refused: malformed, over memberlist's limits, unencrypted or sealed with a key not in the keyring.",
		}, func() float64 { return float64(m.Stats().RejectedMessages) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "keyring_malformed_requests_total",
			Help: "Internode keyring requests from peers that did not decode; refused.",
		}, func() float64 { return float64(m.KeyringMalformed()) }),
	}
	if m.discovering() {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "gossip_rejected_inventory_total",
				Help: "Gossip alive messages refused because the member's address is not in this node's inventory (cluster.membership.allow_only_inventory).",
			}, func() float64 { return float64(m.Stats().RejectedInventory) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: ns, Name: "gossip_inventory_errors_total",
				Help: "Inventory DNS lookups and file reads that failed (the last good DNS answer is kept; an unreadable file counts as empty).",
			}, func() float64 { return float64(m.Stats().InventoryErrors) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: ns, Name: "gossip_inventory_addresses",
				Help: "Addresses in the inventory this node last resolved (cluster.membership.discover).",
			}, func() float64 { return float64(len(m.inv.targets())) }),
		)
	}
	for _, st := range []State{StateAlive, StateSuspect, StateDead, StateLeft} {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "gossip_members",
			Help:        "Members in this node's gossip view by state (itself included; dead and left ones until forgotten).",
			ConstLabels: prometheus.Labels{"state": string(st)},
		}, func() float64 {
			c := 0
			for _, mem := range m.Members() {
				if mem.State == st {
					c++
				}
			}
			return float64(c)
		}))
	}
	for _, dir := range []string{"in", "out"} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "gossip_bytes_total",
			Help:        "Bytes of gossip traffic (UDP packets and TCP push/pull).",
			ConstLabels: prometheus.Labels{"direction": dir},
		}, func() float64 {
			s := m.Stats()
			if dir == "in" {
				return float64(s.BytesIn)
			}
			return float64(s.BytesOut)
		}))
	}
	return cs
}
