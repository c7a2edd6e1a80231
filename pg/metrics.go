package pg

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the process groups' Prometheus metrics (namespace
// conclave): sizes read from the membership table at scrape time,
// counters from the service. The caller registers them.
func (s *Service) Collectors() []prometheus.Collector {
	const ns = "conclave"
	counter := func(name, help string, read func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help},
			func() float64 { return float64(read()) })
	}
	members := func(where string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "group_members",
			Help:        "Process-group memberships as this node knows them: on this node (local) or on every node (all); the internal heartbeat group included.",
			ConstLabels: prometheus.Labels{"where": where},
		}, func() float64 {
			_, local, total := s.Counts()
			if where == "local" {
				return float64(local)
			}
			return float64(total)
		})
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "groups",
			Help: "Process groups with at least one member on any node, as this node knows them (every scope).",
		}, func() float64 { g, _, _ := s.Counts(); return float64(g) }),
		members("local"),
		members("all"),
		counter("group_broadcasts_sent_total", "Process-group broadcast messages this node wrote to peers: one per destination node per broadcast, heartbeats included.",
			func() uint64 { return s.Stats().BroadcastsSent }),
		counter("group_broadcast_send_failures_total", "Process-group broadcast sends to a peer that failed.",
			func() uint64 { return s.Stats().SendFailures }),
		counter("group_messages_delivered_total", "Process-group messages delivered to member sessions on this node.",
			func() uint64 { return s.Stats().Delivered }),
		counter("group_malformed_frames_total", "Process-group messages from peers that did not decode; dropped.",
			func() uint64 { return s.Stats().Malformed }),
		counter("group_full_syncs_total", "Full membership sync exchanges this node started (peer appeared, gap in deltas, anti-entropy repair, retry).",
			func() uint64 { return s.Stats().SyncsSent }),
		counter("group_anti_entropy_repairs_total", "Membership differences the anti-entropy loop found and repaired with a full sync.",
			func() uint64 { return s.Stats().Repairs }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "group_heartbeat_last_received_timestamp_seconds",
			Help: "Unix time of the last process-group heartbeat received from any peer; 0 if none yet.",
		}, func() float64 {
			_, at := s.LastBeat()
			if at.IsZero() {
				return 0
			}
			return float64(at.UnixNano()) / 1e9
		}),
	}
}
