package api

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// raftStateValue encodes RaftStatus.State for the conclave_raft_state gauge.
// -1 covers "client" (not in the Raft configuration) and anything unknown,
// so a dashboard never mistakes a non-member for a follower.
func raftStateValue(state string) float64 {
	switch state {
	case "follower":
		return 0
	case "candidate":
		return 1
	case "leader":
		return 2
	case "shutdown":
		return 3
	default:
		return -1
	}
}

// metrics is what the API itself exports.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// registerMetrics registers the process collectors, the scrape-time Raft
// gauges and the request metrics on reg. A collector that someone else
// already registered (the Go collector on a shared registry, or a Raft
// gauge that cluster exports itself) is left to its owner rather than being
// an error.
func registerMetrics(reg prometheus.Registerer, node ClusterNode) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "conclave",
			Subsystem: "api",
			Name:      "requests_total",
			Help:      "gRPC requests handled, by full method name and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "conclave",
			Subsystem: "api",
			Name:      "request_duration_seconds",
			Help:      "gRPC request latency in seconds (unary calls; streams live as long as their session), by full method name and status code.",
			// 100 µs (a local stale read) to ~1.6 s (a write waiting out
			// an election).
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
		}, []string{"method", "code"}),
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave",
			Name:      "raft_state",
			Help:      "Raft state of this node: 0 follower, 1 candidate, 2 leader, 3 shutdown, -1 client (not in the Raft configuration).",
		}, func() float64 { return raftStateValue(node.RaftStatus().State) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "conclave",
			Name:      "raft_term",
			Help:      "Current Raft term as seen by this node.",
		}, func() float64 { return float64(node.RaftStatus().Term) }),
	} {
		if _, err := register(reg, c); err != nil {
			return nil, err
		}
	}
	// Two servers on one registry (tests, or a restart within a process)
	// share the request series instead of failing.
	c, err := register(reg, m.requests)
	if err != nil {
		return nil, err
	}
	m.requests = c.(*prometheus.CounterVec)
	if c, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	m.latency = c.(*prometheus.HistogramVec)
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same descriptors.
func register(reg prometheus.Registerer, c prometheus.Collector) (prometheus.Collector, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		return are.ExistingCollector, nil
	}
	return nil, fmt.Errorf("api: register metrics: %w", err)
}
