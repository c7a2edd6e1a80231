package cluster

import (
	"testing"
	"time"

	"github.com/conclave-dev/conclave/config"
)

// The operator's cluster.health thresholds reach the checks, over the
// built-in ones of either timing.
func TestHealthConfigTakesClusterHealth(t *testing.T) {
	cfg := config.Default()
	cfg.Cluster.Name, cfg.Cluster.DataDir = "n1", "/var/lib/c"
	cfg.Cluster.Health = config.HealthConfig{MaxLagEntries: 7, MaxLagTime: config.Duration(4 * time.Second), MinDiskFreeBytes: 1 << 30}
	for _, local := range []bool{false, true} {
		hc := healthConfig(cfg, local)
		if hc.Node != "n1" || hc.DataDir != "/var/lib/c" || hc.MaxLagEntries != 7 || hc.MaxLagTime != 4*time.Second || hc.MinDiskFree != 1<<30 {
			t.Fatalf("local %v: health config %+v", local, hc)
		}
		if err := hc.Validate(); err != nil {
			t.Fatalf("local %v: %v", local, err)
		}
	}
}
