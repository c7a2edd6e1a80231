package bench

import (
	"testing"
	"time"
)

// startCluster measures the floor (on the disk the nodes will use, before
// they load the machine) and starts the cluster of DESIGN §16.
func startCluster(b *testing.B, r *Report) *Cluster {
	b.Helper()
	return startClusterWith(b, r, DefaultConfig())
}

// startClusterWith is startCluster with cfg instead of DefaultConfig.
func startClusterWith(b *testing.B, r *Report, cfg Config) *Cluster {
	b.Helper()
	f, err := MeasureFloor(b.TempDir(), cfg.FloorSamples)
	if err != nil {
		b.Fatal(err)
	}
	r.Floor(f)
	return Start(b, cfg)
}

// reportLatency reports a run's rate under unit, its p50 and p99 in ms,
// the process's CPU use and the sample count.
func reportLatency(r *Report, run Run, unit string, rate, p50 Target) Summary {
	s := Summarize(run.Latency)
	r.Metric(unit, run.Rate(), rate)
	r.Metric("p50_ms", Millis(s.P50), p50)
	r.Metric("p99_ms", Millis(s.P99), Target{})
	r.Metric("cpu_%", run.CPUPercent(), Target{})
	r.Note("%d operations in %s; mean %s, max %s", run.Ops, run.Elapsed.Round(time.Millisecond), s.Mean.Round(time.Microsecond), s.Max.Round(time.Microsecond))
	return s
}
