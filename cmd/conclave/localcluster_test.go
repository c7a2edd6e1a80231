package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internode"
)

// TestLocalClusterPorts: the three configs `make cluster` runs
// (deploy/local) validate, use twelve distinct ports, pin no internode port
// inside the mesh's auto range (where a `make run` dev node or any agent
// with bind_port 0 could take it first), and match scripts/cluster.sh.
func TestLocalClusterPorts(t *testing.T) {
	auto := internode.DefaultConfig()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts/cluster.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The configs name .cluster/gossip.key, which cluster.sh makes on the
	// first start: run where one exists.
	t.Chdir(t.TempDir())
	if err := os.Mkdir(".cluster", 0o700); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if err := os.WriteFile(".cluster/gossip.key", []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for n := 1; n <= 3; n++ {
		path := filepath.Join(root, fmt.Sprintf("deploy/local/node%d.yaml", n))
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ports := []int{cfg.Cluster.Membership.BindPort, cfg.Cluster.Internode.BindPort,
			apiPort(t, cfg.API.GRPCAddr), apiPort(t, cfg.API.HTTPAddr), apiPort(t, cfg.DNS.BindAddr)}
		for i, p := range ports {
			what := fmt.Sprintf("node%d %s", n, []string{"gossip", "internode", "grpc", "http", "dns"}[i])
			if p == 0 {
				t.Errorf("%s: port 0; make cluster pins every port", what)
			}
			if other, dup := seen[p]; dup {
				t.Errorf("%s and %s both use port %d", what, other, p)
			}
			seen[p] = what
		}
		if in := cfg.Cluster.Internode.BindPort; in >= auto.PortMin && in <= auto.PortMax {
			t.Errorf("node%d internode port %d is inside the auto range %d-%d", n, in, auto.PortMin, auto.PortMax)
		}
		line := fmt.Sprintf(`(?m)^\s*%d\) echo %d %d %d %d %d ;;$`, n, ports[0], ports[1], ports[2], ports[3], ports[4])
		if !regexp.MustCompile(line).Match(script) {
			t.Errorf("scripts/cluster.sh ports() does not list node%d as %v", n, ports)
		}
	}
}

func apiPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
