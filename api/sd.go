package api

import (
	"net"
	"net/http"
)

// sdTargetGroup is one entry of Prometheus' HTTP service discovery format
// (https://prometheus.io/docs/prometheus/latest/http_sd/).
type sdTargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// prometheusSD lists the metrics address of every live member, one target
// group per node so each carries its own labels. A member's HTTP address
// comes from its gossip meta; a wildcard host (0.0.0.0, ::, empty) is
// replaced by the host of its gossip address, which is what peers reach it
// on.
func (h *rest) prometheusSD(w http.ResponseWriter, r *http.Request) {
	groups := []sdTargetGroup{}
	for _, m := range h.cluster.Members() {
		if m.State != "alive" || m.HTTPAddr == "" {
			continue
		}
		groups = append(groups, sdTargetGroup{
			Targets: []string{ReachableAddr(m.HTTPAddr, m.Addr)},
			Labels: map[string]string{
				"node":             m.Name,
				"failure_domain":   m.FailureDomain,
				"raft_role":        m.RaftRole,
				"cluster_id":       m.ClusterID,
				"__metrics_path__": "/metrics",
			},
		})
	}
	h.write(w, groups)
}

// ReachableAddr returns addr with a wildcard or empty host replaced by the
// host of via: where to reach a member's door that binds every interface
// (its gossip address names the host). The CLI uses it to follow the
// leader.
func ReachableAddr(addr, via string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	vhost, _, err := net.SplitHostPort(via)
	if err != nil || vhost == "" {
		return addr
	}
	return net.JoinHostPort(vhost, port)
}
