package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/naming"
)

// BenchmarkNameRegister16 and 64: sessions spread over the nodes, each
// registering and unregistering its own consistent name: two Raft commits
// per cycle, as a lock's acquire and release.
func BenchmarkNameRegister16(b *testing.B) { benchNameRegister(b, 16) }

// BenchmarkNameRegister64 is BenchmarkNameRegister16 with 64 sessions.
func BenchmarkNameRegister64(b *testing.B) { benchNameRegister(b, 64) }

func benchNameRegister(b *testing.B, sessions int) {
	r := NewReport(b, fmt.Sprintf("NameRegister%d: %d sessions spread over 3 nodes, each register+unregister of its own consistent name", sessions, sessions))
	c := startCluster(b, r)
	ss := c.Sessions(c.Spread(sessions))
	names := make([]string, sessions)
	for i := range names {
		names[i] = fmt.Sprintf("bench/name%d/%02d", sessions, i)
	}
	run := Drive(b, sessions, DefaultConfig().OpTimeout, func(ctx context.Context, w int) error {
		if _, err := ss[w].Register(ctx, names[w], client.ScopeConsistent, nil); err != nil {
			return err
		}
		return ss[w].Unregister(ctx, names[w])
	})
	reportLatency(r, run, "cycles/s", AtLeast(2300), Target{})
	r.Log()
}

// BenchmarkNameLookupStale and Consistent: 16 clients spread over the
// nodes resolve one registered consistent name. Stale reads the serving
// node's replica; consistent confirms leadership with a quorum first.
func BenchmarkNameLookupStale(b *testing.B) { benchNameLookup(b, client.ReadStale) }

// BenchmarkNameLookupConsistent: see BenchmarkNameLookupStale.
func BenchmarkNameLookupConsistent(b *testing.B) { benchNameLookup(b, client.ReadConsistent) }

func benchNameLookup(b *testing.B, mode client.ReadMode) {
	const clients = 16
	r := NewReport(b, fmt.Sprintf("NameLookup (%s): %d clients spread over 3 nodes resolve one consistent name", mode, clients))
	c := startCluster(b, r)
	owner := c.Sessions([]*testcluster.Node{c.Leader()})[0]
	ctx, cancel := context.WithTimeout(context.Background(), DefaultConfig().OpTimeout)
	_, err := owner.Register(ctx, "bench/lookup", client.ScopeConsistent, []byte("10.0.0.1:8080"))
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	nodes := c.Spread(clients)
	cls := make([]*client.Client, clients)
	for i, n := range nodes {
		cls[i] = c.Client(n)
	}
	// A follower may not have applied the registration yet when it is
	// acknowledged: measure once every node has.
	c.WaitCaughtUp()
	run := Drive(b, clients, DefaultConfig().OpTimeout, func(ctx context.Context, w int) error {
		bd, err := cls[w].Names().Lookup(ctx, "bench/lookup", mode)
		if err == nil && bd.PID != owner.PID() {
			return fmt.Errorf("lookup resolved %s, want %s", bd.PID, owner.PID())
		}
		return err
	})
	reportLatency(r, run, "lookups/s", Target{}, Target{})
	r.Log()
}

// BenchmarkNameEventualPropagation: on a 10-node in-process cluster, one
// node registers 100 eventual names one after another; for each, the time
// from the register call to the last of the other nine nodes seeing it
// (a watch on every node timestamps the bound event).
func BenchmarkNameEventualPropagation(b *testing.B) {
	const (
		nodes = 10
		names = 100
	)
	r := NewReport(b, "NameEventualPropagation: 10 nodes; register an eventual name on one, time until all nine others see it")
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
	origin := all[0]
	type seen struct {
		name string
		at   time.Time
	}
	seenc := make(chan seen, nodes*names)
	for _, n := range all[1:] {
		w, err := n.Names().Watch("bench/eventual/")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Close)
		go func() {
			for ev := range w.Events() {
				if ev.Kind == naming.Bound {
					seenc <- seen{ev.Binding.Name, time.Now()}
				}
			}
		}()
	}
	s, err := origin.OpenSession(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	var lat []time.Duration
	round := 0
	for b.Loop() {
		round++
		lat = lat[:0]
		for i := 0; i < names; i++ {
			name := fmt.Sprintf("bench/eventual/%d/%03d", round, i)
			t0 := time.Now()
			if _, err := origin.Names().Register(context.Background(), s.PID(), name, naming.ScopeEventual, nil); err != nil {
				b.Fatal(err)
			}
			var last time.Time
			for got := 0; got < nodes-1; {
				select {
				case sn := <-seenc:
					if sn.name == name {
						got++
						last = sn.at
					}
				case <-time.After(DefaultConfig().OpTimeout):
					b.Fatalf("%s reached %d of %d nodes in %s", name, got, nodes-1, DefaultConfig().OpTimeout)
				}
			}
			lat = append(lat, last.Sub(t0))
		}
	}
	sm := Summarize(lat)
	r.Metric("propagation_p50_ms", Millis(sm.P50), Target{})
	r.Metric("propagation_p99_ms", Millis(sm.P99), Target{})
	r.Metric("propagation_max_ms", Millis(sm.Max), Target{})
	r.Note("%d names, each to all %d other nodes; local gossip timings (testcluster): gossip every 50 ms to 3 nodes (production: 200 ms)", len(lat), nodes-1)
	r.Log()
}
