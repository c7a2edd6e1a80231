package session

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the session table's Prometheus metrics (namespace
// conclave), read at scrape time. The caller registers them.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave", Name: "sessions",
			Help: "Sessions open on this node.",
		}, func() float64 { return float64(s.Len()) }),
	}
}
