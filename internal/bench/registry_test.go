package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// registryCase is one sub-benchmark of the registry's throughput
// benchmarks: how many sessions, and on which nodes.
type registryCase struct {
	name    string // the sub-benchmark's name
	clients int
	where   string // "follower", "leader", or "" for spread over the nodes
}

// registryCases: one session on a follower (as BenchmarkLock's single
// session; most applications are not on the leader's node), one on the
// leader (the difference is the forwarding, and for a registration the
// wait for the follower's own replica), and 16 spread over the 3 nodes.
var registryCases = []registryCase{
	{"clients=1/follower", 1, "follower"},
	{"clients=1/leader", 1, "leader"},
	{"clients=16", 16, ""},
}

// registrySessions opens, in the parent benchmark (whose goroutine may
// call the cluster's Fatal), the sessions of every case.
func registrySessions(c *Cluster) map[string][]*client.Session {
	out := map[string][]*client.Session{}
	for _, rc := range registryCases {
		nodes := c.Spread(rc.clients)
		switch rc.where {
		case "follower":
			nodes = []*testcluster.Node{c.Follower()}
		case "leader":
			nodes = []*testcluster.Node{c.Leader()}
		}
		out[rc.name] = c.Sessions(nodes)
	}
	return out
}

func (rc registryCase) String() string {
	if rc.where != "" {
		return fmt.Sprintf("%d session on the %s", rc.clients, rc.where)
	}
	return fmt.Sprintf("%d sessions spread over 3 nodes", rc.clients)
}

// id is worker w's instance ID in this case.
func (rc registryCase) id(w int) string {
	return fmt.Sprintf("%s-w%02d", strings.NewReplacer("=", "", "/", "-").Replace(rc.name), w)
}

// committedSince returns a function that counts the Raft entries n has
// committed since committedSince was called: a write the benchmark
// counted must have been one of them.
func committedSince(n *testcluster.Node) func() uint64 {
	start := n.RaftStatus().CommitIndex
	return func() uint64 { return n.RaftStatus().CommitIndex - start }
}

// startRegistryCluster measures the floor and starts the cluster of
// DESIGN §16, for a benchmark whose sub-benchmarks share it.
func startRegistryCluster(b *testing.B) (*Cluster, Floor) {
	b.Helper()
	cfg := DefaultConfig()
	f, err := MeasureFloor(b.TempDir(), cfg.FloorSamples)
	if err != nil {
		b.Fatal(err)
	}
	return Start(b, cfg), f
}

// BenchmarkRegistryRegister: sessions (see registryCases), each
// registering and deregistering its own instance of one service through
// the SDK, back to back: two Raft commits per cycle, as a consistent
// name's register+unregister.
func BenchmarkRegistryRegister(b *testing.B) {
	c, f := startRegistryCluster(b)
	sessions := registrySessions(c)
	leader := c.Leader()
	for _, rc := range registryCases {
		b.Run(rc.name, func(b *testing.B) {
			k := rc.clients
			r := NewReport(b, fmt.Sprintf("RegistryRegister: %s, each register+deregister of its own instance", rc))
			r.Floor(f)
			ss := sessions[rc.name]
			ids := make([]string, k)
			for w := range ids {
				ids[w] = rc.id(w)
			}
			committed := committedSince(leader)
			run := Drive(b, k, DefaultConfig().OpTimeout, func(ctx context.Context, w int) error {
				in, err := ss[w].RegisterService(ctx, client.Registration{Service: "bench-reg", ID: ids[w], Endpoint: "10.0.0.1:8080"})
				if err != nil {
					return fmt.Errorf("register: %w", err)
				}
				if in.ID != ids[w] || in.PID != ss[w].PID() {
					return fmt.Errorf("register answered %q owned by %s, want %q owned by %s", in.ID, in.PID, ids[w], ss[w].PID())
				}
				if err := ss[w].DeregisterService(ctx, "bench-reg", ids[w]); err != nil {
					return fmt.Errorf("deregister: %w", err)
				}
				return nil
			})
			reportLatency(r, run, "cycles/s", Target{}, Target{})
			if got := committed(); got < 2*uint64(run.Ops) {
				b.Fatalf("%d cycles but %d Raft entries committed, want at least two per cycle", run.Ops, got)
			}
			r.Note("a cycle is one registration and one deregistration (two Raft commits): %.0f of each per second", run.Rate())
			r.Log()
		})
	}
}

// BenchmarkRegistryHealth: sessions (see registryCases), each owning one
// instance with a ttl check, report its health back to back (UpdateTTL),
// flipping it between passing and warning, so every report is a health
// transition: one Raft commit, which the call waits for (it does not wait
// for the agent's own replica, unlike a registration).
func BenchmarkRegistryHealth(b *testing.B) {
	c, f := startRegistryCluster(b)
	sessions := registrySessions(c)
	for _, rc := range registryCases {
		for w, s := range sessions[rc.name] {
			ctx, cancel := context.WithTimeout(context.Background(), DefaultConfig().OpTimeout)
			_, err := s.RegisterService(ctx, client.Registration{Service: "bench-health", ID: rc.id(w),
				Endpoint: "10.0.0.1:8080", Checks: []client.Check{{Kind: client.CheckTTL, TTL: time.Hour}}})
			cancel()
			if err != nil {
				b.Fatalf("register %s: %v", rc.id(w), err)
			}
		}
	}
	leader := c.Leader()
	lister := c.Client(leader).Registry()
	for _, rc := range registryCases {
		b.Run(rc.name, func(b *testing.B) {
			k := rc.clients
			r := NewReport(b, fmt.Sprintf("RegistryHealth: %s, each flipping its instance passing<->warning (UpdateTTL)", rc))
			r.Floor(f)
			ss := sessions[rc.name]
			ids := make([]string, k)
			for w := range ids {
				ids[w] = rc.id(w)
			}
			// An instance with a check starts critical: the warm-up's
			// passing is a transition too. Per-worker state, see Op.
			next := make([]client.Health, k)
			for w := range next {
				next[w] = client.HealthPassing
			}
			committed := committedSince(leader)
			run := Drive(b, k, DefaultConfig().OpTimeout, func(ctx context.Context, w int) error {
				h := next[w]
				if err := ss[w].UpdateTTL(ctx, "bench-health", ids[w], h, ""); err != nil {
					return fmt.Errorf("update ttl to %s: %w", h, err)
				}
				if h == client.HealthPassing {
					next[w] = client.HealthWarning
				} else {
					next[w] = client.HealthPassing
				}
				return nil
			})
			reportLatency(r, run, "updates/s", Target{}, Target{})
			if got := committed(); got < uint64(run.Ops) {
				b.Fatalf("%d health updates but %d Raft entries committed: not every update was a transition", run.Ops, got)
			}
			// The table follows the reports: after a warning and then a
			// passing report from each session, every instance is passing
			// on the leader. (The run's last update may have been cut
			// short by its end and committed all the same: the warning
			// first makes the passing a transition whichever health that
			// left; the agent's reconcile corrects what it believes the
			// table holds within a second otherwise.)
			for w, id := range ids {
				for _, h := range []client.Health{client.HealthWarning, client.HealthPassing} {
					ctx, cancel := context.WithTimeout(context.Background(), DefaultConfig().OpTimeout)
					err := ss[w].UpdateTTL(ctx, "bench-health", id, h, "bench done")
					cancel()
					if err != nil {
						b.Fatalf("final update of %s to %s: %v", id, h, err)
					}
				}
			}
			testcluster.WaitFor(b, DefaultConfig().OpTimeout, "every instance passing on the leader after its last update", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), DefaultConfig().OpTimeout)
				defer cancel()
				ins, _, err := lister.List(ctx, client.ServiceFilter{Service: "bench-health"})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, in := range ins {
					if slices.Contains(ids, in.ID) {
						if in.Health != client.HealthPassing {
							return false
						}
						n++
					}
				}
				return n == len(ids)
			})
			r.Note("every update changes the health (one Raft commit each)")
			r.Log()
		})
	}
}

// fanoutEvent is one answer a watcher received, and when.
type fanoutEvent struct {
	w   int
	at  time.Time
	ids []string
	err error // the watch ended early
}

// BenchmarkRegistryWatchFanout: 100 SDK watches of one service (each its
// own client and gRPC stream, spread over the 3 nodes); a session on a
// follower registers an instance of it. Each round measures, for every
// watcher, the time from the start of the register call to the watcher
// receiving an answer that holds the new instance; then the instance is
// deregistered and every watcher seen to drop it before the next round.
func BenchmarkRegistryWatchFanout(b *testing.B) {
	const watchers = 100
	const service = "bench-fanout"
	cfg := DefaultConfig()
	r := NewReport(b, fmt.Sprintf("RegistryWatchFanout: %d SDK watches over 3 nodes; register on a follower, time from the call's start to each watcher", watchers))
	c := startCluster(b, r)
	owner := c.Sessions([]*testcluster.Node{c.Follower()})[0]
	clients := make([]*client.Client, watchers)
	for i, n := range c.Spread(watchers) {
		clients[i] = c.Client(n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Registered after the clients' cleanups, so it runs before them: the
	// watches end (their goroutines waited for) before the connections.
	b.Cleanup(func() { cancel(); wg.Wait() })
	events := make(chan fanoutEvent, 8*watchers)
	send := func(ev fanoutEvent) {
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	for w, cl := range clients {
		updates, stop, err := cl.Registry().Watch(ctx, client.ServiceFilter{Service: service})
		if err != nil {
			b.Fatalf("watch %d: %v", w, err)
		}
		wg.Go(func() {
			for u := range updates {
				at := time.Now()
				ids := make([]string, len(u.Instances))
				for i, in := range u.Instances {
					ids[i] = in.ID
				}
				send(fanoutEvent{w: w, at: at, ids: ids})
			}
			if err := stop(); err != nil || ctx.Err() == nil {
				send(fanoutEvent{w: w, err: fmt.Errorf("watch %d ended early: %v", w, err)})
			}
		})
	}
	// await reads events until every watcher has received an answer for
	// which has(ids) holds, and returns when each did.
	await := func(what string, has func(ids []string) bool) []time.Time {
		got := make([]time.Time, watchers)
		n := 0
		deadline := time.NewTimer(cfg.OpTimeout)
		defer deadline.Stop()
		for n < watchers {
			select {
			case ev := <-events:
				if ev.err != nil {
					b.Fatal(ev.err)
				}
				if got[ev.w].IsZero() && has(ev.ids) {
					got[ev.w] = ev.at
					n++
				}
			case <-deadline.C:
				b.Fatalf("%s: %d of %d watchers in %s", what, n, watchers, cfg.OpTimeout)
			}
		}
		return got
	}
	await("first answer", func([]string) bool { return true })

	var fromStart, fromReturn, last, call []time.Duration
	round := 0
	for b.Loop() {
		round++
		id := fmt.Sprintf("r%d", round)
		holds := func(ids []string) bool { return slices.Contains(ids, id) }
		octx, ocancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
		t0 := time.Now()
		_, err := owner.RegisterService(octx, client.Registration{Service: service, ID: id, Endpoint: "10.0.0.1:8080"})
		t1 := time.Now()
		ocancel()
		if err != nil {
			b.Fatalf("round %d: register: %v", round, err)
		}
		call = append(call, t1.Sub(t0))
		var slowest time.Duration
		for _, at := range await("registration "+id, holds) {
			fromStart = append(fromStart, at.Sub(t0))
			fromReturn = append(fromReturn, at.Sub(t1))
			slowest = max(slowest, at.Sub(t0))
		}
		last = append(last, slowest)
		octx, ocancel = context.WithTimeout(context.Background(), cfg.OpTimeout)
		err = owner.DeregisterService(octx, service, id)
		ocancel()
		if err != nil {
			b.Fatalf("round %d: deregister: %v", round, err)
		}
		await("deregistration "+id, func(ids []string) bool { return !holds(ids) })
	}
	s, sl, sc, sr := Summarize(fromStart), Summarize(last), Summarize(call), Summarize(fromReturn)
	r.Metric("fanout_p50_ms", Millis(s.P50), Target{})
	r.Metric("fanout_p99_ms", Millis(s.P99), Target{})
	r.Metric("fanout_max_ms", Millis(s.Max), Target{})
	r.Metric("all_seen_p50_ms", Millis(sl.P50), Target{})
	r.Metric("register_p50_ms", Millis(sc.P50), Target{})
	r.Note("%d rounds, %d deliveries; from the call's start (all_seen: the round's slowest watcher); register call p99 %.2f ms", round, s.N, Millis(sc.P99))
	r.Note("from the register call's return instead: p50 %.2f ms, p99 %.2f ms, max %.2f ms (negative: seen before the call returned)", Millis(sr.P50), Millis(sr.P99), Millis(sr.Max))
	r.Log()
}
