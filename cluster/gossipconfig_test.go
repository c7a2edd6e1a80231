package cluster

import (
	"testing"
	"time"

	"github.com/conclave-dev/conclave/config"
)

// TestGossipConfigMapsDiscovery: the inventory keys reach gossip, and the
// result is a valid gossip config.
func TestGossipConfigMapsDiscovery(t *testing.T) {
	cfg := config.Default()
	cfg.Cluster.Name = "n1"
	cfg.Cluster.Membership.Discover = config.DiscoverConfig{
		DNS: "gossip.example.internal", File: "/etc/conclave/inventory", Interval: config.Duration(time.Minute),
	}
	cfg.Cluster.Membership.AllowOnlyInventory = true
	gc := gossipConfig(cfg, nil, false)
	if gc.DiscoverDNS != "gossip.example.internal" || gc.DiscoverFile != "/etc/conclave/inventory" ||
		gc.DiscoverInterval != time.Minute || !gc.AllowOnlyInventory {
		t.Fatalf("gossip config %+v does not carry the discover keys", gc)
	}
	if err := gc.Validate(); err != nil {
		t.Fatal(err)
	}
	// Off by default.
	cfg = config.Default()
	cfg.Cluster.Name = "n1"
	if gc := gossipConfig(cfg, nil, false); gc.DiscoverDNS != "" || gc.DiscoverFile != "" || gc.AllowOnlyInventory {
		t.Fatalf("discovery on by default: %+v", gc)
	}
}
