package internode

import "github.com/prometheus/client_golang/prometheus"

// Collectors are the mesh's Prometheus metrics (namespace conclave), read
// at scrape time from Stats. The caller registers them.
func (m *Mesh) Collectors() []prometheus.Collector {
	const ns = "conclave"
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "internode_connections",
			Help: "Open internode mesh sessions (TCP connections), inbound and outbound.",
		}, func() float64 { return float64(m.Stats().ConnectionsOpen) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "internode_malformed_total",
			Help: "Internode connections and streams dropped for a bad preamble, a malformed or oversize frame, or an unknown class.",
		}, func() float64 {
			s := m.Stats()
			return float64(s.BadPreambles + s.MalformedFrames + s.OversizeFrames + s.UnknownClass)
		}),
	}
	for _, r := range RejectReasons {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "internode_rejected_total",
			Help: "Internode peers closed before being served, by reason: no_cert, bad_cert (another CA, expired, " +
				"no node identity), wrong_node (certificate names another node than claimed or dialed), handshake " +
				"(failed or timed out), protocol (not TLS or a bad preamble), limit (over a per-peer cap).",
			ConstLabels: prometheus.Labels{"reason": string(r)},
		}, func() float64 { return float64(m.Stats().Rejected[r]) }))
	}
	cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Name: "internode_buffered_bytes",
		Help: "Bytes of internode request frames held now (reserved from each peer's buffer cap), all peers together.",
	}, func() float64 { return float64(m.Stats().BufferedBytes) }))
	for _, dir := range []string{"in", "out"} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "internode_bytes_total",
			Help:        "Bytes on the internode mesh's TCP connections (Raft, forwarding), framing included.",
			ConstLabels: prometheus.Labels{"direction": dir},
		}, func() float64 {
			s := m.Stats()
			if dir == "in" {
				return float64(s.BytesIn)
			}
			return float64(s.BytesOut)
		}))
	}
	return append(cs, newClassCollector(m))
}

// classCollector exports the mesh's per-class stream and byte counters.
// Classes appear once they have seen traffic, so a scrape lists only the
// classes in use (raft and forward on every Raft member; groups and ack
// once those planes exist).
type classCollector struct {
	mesh    *Mesh
	bytes   *prometheus.Desc
	streams *prometheus.Desc
}

func newClassCollector(m *Mesh) classCollector {
	return classCollector{
		mesh: m,
		bytes: prometheus.NewDesc("conclave_internode_class_bytes_total",
			"Payload bytes on internode streams by stream class and direction (class byte and frame headers included, yamux framing not).",
			[]string{"class", "direction"}, nil),
		streams: prometheus.NewDesc("conclave_internode_class_streams_total",
			"Internode streams opened, by stream class and direction (in: accepted, out: opened by this node).",
			[]string{"class", "direction"}, nil),
	}
}

func (c classCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.streams
}

func (c classCollector) Collect(ch chan<- prometheus.Metric) {
	for class, s := range c.mesh.Stats().Classes {
		name := class.String()
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.BytesIn), name, "in")
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.BytesOut), name, "out")
		ch <- prometheus.MustNewConstMetric(c.streams, prometheus.CounterValue, float64(s.StreamsIn), name, "in")
		ch <- prometheus.MustNewConstMetric(c.streams, prometheus.CounterValue, float64(s.StreamsOut), name, "out")
	}
}
