package cluster

import (
	"net"
	"strconv"
	"testing"

	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internode"
)

// TestMeshConfigEphemeralPort: internode bind_port -1 reaches the mesh as
// "no auto range, ephemeral port", and the mesh it builds binds a port
// outside 7950-7959 even with production settings; bind_port 0 keeps the
// range. Test clusters of agents sharing a host rely on the first, so one
// run never restarts a node on a range port another run's agent took.
func TestMeshConfigEphemeralPort(t *testing.T) {
	cfg := config.Default()
	cfg.Cluster.Membership.BindAddr = "127.0.0.1"

	auto := meshConfig(cfg, false)
	if auto.BindPort != 0 || auto.PortMin != 7950 || auto.PortMax != 7959 {
		t.Fatalf("bind_port 0: BindPort %d, range %d-%d; want 0 and 7950-7959", auto.BindPort, auto.PortMin, auto.PortMax)
	}

	cfg.Cluster.Internode.BindPort = config.EphemeralPort
	if err := cfg.Validate(); err != nil {
		t.Fatalf("bind_port -1 refused: %v", err)
	}
	mc := meshConfig(cfg, false)
	if mc.BindPort != 0 || mc.PortMin != 0 || mc.PortMax != 0 {
		t.Fatalf("bind_port -1: BindPort %d, range %d-%d; want 0 and no range", mc.BindPort, mc.PortMin, mc.PortMax)
	}
	m, err := internode.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, p, err := net.SplitHostPort(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	if port == 0 || (port >= auto.PortMin && port <= auto.PortMax) {
		t.Fatalf("bind_port -1 bound port %d; want an ephemeral port outside %d-%d", port, auto.PortMin, auto.PortMax)
	}
}
