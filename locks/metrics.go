package locks

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the lock table's Prometheus metrics (namespace conclave),
// read at scrape time. The caller registers them.
func (r *Replicated) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "locks_held",
			Help: "Locks that have a holder, cluster-wide, in this node's replica of the lock table (0 on a client node).",
		}, func() float64 { return float64(r.Held()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "semaphore_slots_held",
			Help: "Semaphore slots that have a holder, cluster-wide, in this node's replica of the lock table (0 on a client node).",
		}, func() float64 { return float64(r.SemHeld()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "elections_led",
			Help: "Elections that have a leader, cluster-wide, in this node's replica of the lock table (0 on a client node).",
		}, func() float64 { return float64(r.ElectionsLed()) }),
	}
}
