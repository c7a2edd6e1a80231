package registry

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the registry's Prometheus metrics (namespace conclave):
// conclave_service_instances{service,health}, the instances of each
// service by health as this node's replica (or mirror) holds them. The
// caller registers them.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{instancesCollector{s: s, desc: prometheus.NewDesc("conclave_service_instances",
		"Registered service instances by service and health, as this node's replica of the registry holds them (a client node: its mirror of a server's).",
		[]string{"service", "health"}, nil)}}
}

type instancesCollector struct {
	s    *Service
	desc *prometheus.Desc
}

func (c instancesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c instancesCollector) Collect(ch chan<- prometheus.Metric) {
	sums, _ := c.s.Services()
	for _, sum := range sums {
		for _, x := range []struct {
			h Health
			n int
		}{{Passing, sum.Passing}, {Warning, sum.Warning}, {Critical, sum.Critical}} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(x.n), sum.Name, x.h.String())
		}
	}
}
