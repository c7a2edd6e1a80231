package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

// BenchmarkKVEventualPropagation: on a 10-node in-process cluster, one
// node writes 100 keys of the eventual store one after another; for each,
// the time from the put to the last of the other nine nodes holding it
// (every node polled each millisecond, so figures carry up to 1 ms of
// polling).
func BenchmarkKVEventualPropagation(b *testing.B) {
	const (
		nodes = 10
		keys  = 100
	)
	r := NewReport(b, "KVEventualPropagation: 10 nodes; put an eventual key on one, time until all nine others hold it")
	f, err := MeasureFloor(b.TempDir(), DefaultConfig().FloorSamples)
	if err != nil {
		b.Fatal(err)
	}
	r.Floor(f)
	tc := testcluster.New(b, nodes, testcluster.Options{})
	tc.WaitLeader(DefaultConfig().StartTimeout)
	all := tc.Running()
	testcluster.WaitFor(b, DefaultConfig().StartTimeout, "every node seeing all 10 alive", func() bool {
		for _, n := range all {
			if len(n.Members()) != nodes {
				return false
			}
			for _, m := range n.Members() {
				if m.State != "alive" {
					return false
				}
			}
		}
		return true
	})
	origin, others := all[0], all[1:]
	ctx := context.Background()
	var lat []time.Duration
	round := 0
	for b.Loop() {
		round++
		lat = lat[:0]
		for i := 0; i < keys; i++ {
			key := fmt.Sprintf("bench/eventual/%d/%03d", round, i)
			t0 := time.Now()
			if _, err := origin.EventualKV().Put(ctx, key, []byte("v")); err != nil {
				b.Fatal(err)
			}
			pending := append([]*testcluster.Node(nil), others...)
			deadline := t0.Add(DefaultConfig().OpTimeout)
			tick := time.NewTicker(time.Millisecond)
			for len(pending) > 0 {
				left := pending[:0]
				for _, n := range pending {
					if _, err := n.EventualKV().Get(ctx, key); err != nil {
						left = append(left, n)
					}
				}
				pending = left
				if len(pending) == 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s reached %d of %d nodes in %s", key, len(others)-len(pending), len(others), DefaultConfig().OpTimeout)
				}
				<-tick.C
			}
			tick.Stop()
			lat = append(lat, time.Since(t0))
		}
	}
	sm := Summarize(lat)
	r.Metric("propagation_p50_ms", Millis(sm.P50), Target{})
	r.Metric("propagation_p99_ms", Millis(sm.P99), Target{})
	r.Metric("propagation_max_ms", Millis(sm.Max), Target{})
	r.Note("%d keys, each to all %d other nodes; local gossip timings (testcluster): gossip every 50 ms to 3 nodes (production: 200 ms)", len(lat), nodes-1)
	r.Log()
}
