package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/pg"
)

// BenchmarkGroupBroadcast: 5 nodes, 100 member sessions spread over them
// (20 each, each on its own gRPC connection) in one group, and 4 senders
// (on 4 of the nodes) broadcasting 64-byte messages back to back through
// the SDK. One operation is one broadcast, which the agent answers once it
// has delivered to its own members and written one message to each other
// node; every member reports when the message reached it. The rate is
// deliveries per second (broadcasts × 100); the latency is from the
// sender's clock before the call to the member's receipt.
func BenchmarkGroupBroadcast(b *testing.B) {
	const nodes, members, senders, group = 5, 100, 4, "bench/fanout"
	r := NewReport(b, "GroupBroadcast: 5 nodes, 100 members spread over them, 4 senders broadcasting 64 B messages")
	cfg := DefaultConfig()
	cfg.Nodes = nodes
	f, err := MeasureFloor(b.TempDir(), cfg.FloorSamples)
	if err != nil {
		b.Fatal(err)
	}
	r.Floor(f)
	c := Start(b, cfg)
	ss := c.Sessions(c.Spread(members))
	for _, s := range ss {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
		err := s.Join(ctx, group)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	var checkers []*client.Client
	for _, n := range c.Spread(nodes) {
		checkers = append(checkers, c.Client(n))
	}
	testcluster.WaitFor(b, cfg.StartTimeout, "every node lists the 100 members", func() bool {
		for _, cl := range checkers {
			ms, err := cl.Groups().Members(context.Background(), group)
			if err != nil || len(ms) != members {
				return false
			}
		}
		return true
	})

	var (
		delivered atomic.Int64
		lat       = make([][]time.Duration, members) // per member: only its reader writes
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case ev, ok := <-s.Events():
					if !ok {
						return
					}
					if ev.Kind != client.EventGroupMessage || len(ev.Payload) < 8 {
						continue
					}
					sent := time.Unix(0, int64(binary.BigEndian.Uint64(ev.Payload)))
					lat[i] = append(lat[i], time.Since(sent))
					delivered.Add(1)
				}
			}
		}()
	}
	var issued atomic.Int64
	var senderClients []*client.Client
	for _, n := range c.Spread(senders) {
		senderClients = append(senderClients, c.Client(n))
	}
	run := Drive(b, senders, cfg.OpTimeout, func(ctx context.Context, w int) error {
		payload := make([]byte, 64)
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		issued.Add(1) // before the call: one cut short at the end may still deliver
		res, err := senderClients[w].Groups().Broadcast(ctx, group, payload)
		if err != nil {
			return err
		}
		if res.Members != members {
			return fmt.Errorf("broadcast reached %d members, want %d", res.Members, members)
		}
		return nil
	})
	want := issued.Load() * members
	drained := time.Now().Add(10 * time.Second)
	for delivered.Load() < want && time.Now().Before(drained) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	s := Summarize(all)
	r.Metric("deliveries/s", run.Rate()*members, Target{})
	r.Metric("broadcasts/s", run.Rate(), Target{})
	r.Metric("delivery_p50_ms", Millis(s.P50), Target{})
	r.Metric("delivery_p99_ms", Millis(s.P99), Target{})
	r.Metric("cpu_%", run.CPUPercent(), Target{})
	r.Note("%d broadcasts issued (%d measured in %s); %d of at most %d deliveries arrived (%d missing); max delivery %s",
		issued.Load(), run.Ops, run.Elapsed.Round(time.Millisecond), delivered.Load(), want, want-delivered.Load(), s.Max.Round(time.Microsecond))
	r.Log()
}

// BenchmarkGroupConvergence: a 10-node cluster (5 voters, 4 standbys, 1
// client), a monitor on every node, and one session on one node that joins
// and leaves a group in turn. One operation is one membership change; its
// time runs from the join (or leave) call to the moment the last of the
// ten monitors has seen it: the membership's convergence time. Node
// methods are called directly (no gRPC), so this is replication alone.
func BenchmarkGroupConvergence(b *testing.B) {
	const nodes = 10
	r := NewReport(b, "GroupConvergence: 10 nodes, one session joins/leaves a group; change → seen by all 10 nodes' monitors")
	cfg := DefaultConfig()
	f, err := MeasureFloor(b.TempDir(), cfg.FloorSamples)
	if err != nil {
		b.Fatal(err)
	}
	r.Floor(f)
	tc := testcluster.New(b, nodes, testcluster.Options{})
	tc.WaitLeader(cfg.StartTimeout)
	running := tc.Running()
	testcluster.WaitFor(b, cfg.StartTimeout, "every node sees every node's heartbeat member", func() bool {
		for _, n := range running {
			ms, err := n.Groups().Members(pg.Key{Scope: "_sys", Group: "heartbeat"}, false)
			if err != nil || len(ms) != nodes {
				return false
			}
		}
		return true
	})
	type event struct {
		pid    string
		joined bool
	}
	chans := make([]chan event, nodes)
	for i, n := range running {
		m, err := n.Groups().Monitor(pg.Key{Group: "bench/converge"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(m.Close)
		chans[i] = make(chan event, 16)
		go func() {
			for {
				select {
				case ev := <-m.Events():
					chans[i] <- event{ev.PID, ev.Joined}
				case <-m.Done():
					return
				}
			}
		}()
	}
	joiner := running[nodes/2]
	ctx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
	s, err := joiner.OpenSession(ctx, 0)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })

	var samples []time.Duration
	join := true
	for b.Loop() {
		t0 := time.Now()
		var err error
		if join {
			err = joiner.Groups().Join(pg.Key{Group: "bench/converge"}, s.PID())
		} else {
			err = joiner.Groups().Leave(pg.Key{Group: "bench/converge"}, s.PID())
		}
		if err != nil {
			b.Fatal(err)
		}
		for i, ch := range chans {
			select {
			case ev := <-ch:
				if ev.pid != s.PID() || ev.joined != join {
					b.Fatalf("node %d saw %+v, want joined=%v", i, ev, join)
				}
			case <-time.After(cfg.OpTimeout):
				b.Fatalf("node %d did not see the change within %s", i, cfg.OpTimeout)
			}
		}
		samples = append(samples, time.Since(t0))
		join = !join
	}
	sm := Summarize(samples)
	r.Metric("converge_p50_ms", Millis(sm.P50), Target{})
	r.Metric("converge_p99_ms", Millis(sm.P99), Target{})
	r.Metric("converge_max_ms", Millis(sm.Max), Target{})
	r.Note("%d membership changes (joins and leaves alternating), mean %s", sm.N, sm.Mean.Round(time.Microsecond))
	r.Log()
}
