package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// BenchmarkLeaderKill kills the leader (testcluster Kill: no leave, no
// leadership hand-off, its sockets closed, as kill -9) while a writer
// writes through a follower that survives, and measures the time from the
// kill to the end of the first successful write that was issued after it.
// One iteration is one kill; the killed node is restarted and the cluster
// settled again with the timer stopped. The in-process Kill is not
// instant as a kill -9 is: it shuts gossip down first, which waited up to
// 1.7 s, while the leader's Raft and mesh went on serving. So the kill
// instant is when Kill returns (everything stopped), and only a write
// issued after it counts; the close's own time is printed beside.
func BenchmarkLeaderKill(b *testing.B) {
	cfg := DefaultConfig()
	r := NewReport(b, "LeaderKill: kill the leader while a writer writes through a follower; kill → next successful write")
	c := startCluster(b, r)
	if cfg.Nodes < 3 {
		b.Skip("needs a quorum that survives one kill")
	}
	prepare := func() (*testcluster.Node, *killWriter) {
		leader := c.Leader()
		w := startKillWriter(b, c.Addr(c.Follower()), cfg.OpTimeout)
		select {
		case <-w.warm:
		case <-time.After(cfg.StartTimeout):
			w.stop()
			b.Fatal("the writer made no write before the kill")
		}
		return leader, w
	}
	var recoveries, closes []time.Duration
	leader, w := prepare()
	for b.Loop() {
		closing := time.Now()
		c.Kill(leader)
		killedAt := time.Now()
		w.killAt.Store(killedAt.UnixNano())
		closes = append(closes, killedAt.Sub(closing))
		var wrote time.Time
		select {
		case wrote = <-w.first:
		case <-time.After(cfg.StartTimeout):
			w.stop()
			b.Fatalf("no successful write within %s of killing %s", cfg.StartTimeout, leader.Name)
		}
		b.StopTimer()
		w.stop()
		recoveries = append(recoveries, wrote.Sub(killedAt))
		c.Restart(leader)
		leader, w = prepare()
		b.StartTimer()
	}
	w.stop()

	s := Summarize(recoveries)
	r.Metric("kill_to_write_p50_ms", Millis(s.P50), AtMost(1000))
	r.Metric("kill_to_write_max_ms", Millis(s.Max), AtMost(1000))
	r.Note("%d kills: %s", len(recoveries), fmt.Sprint(roundAll(recoveries, time.Millisecond)))
	cs := Summarize(closes)
	r.Note("timed from the end of the in-process close of the killed node, which took p50 %s, max %s",
		cs.P50.Round(time.Millisecond), cs.Max.Round(time.Millisecond))
	r.Note("local Raft timings (testcluster): heartbeat and election timeout 1 s, as in production")
	r.Log()
}

func roundAll(ds []time.Duration, m time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(m)
	}
	return out
}

// killWriter writes back to back through one node's API from its own
// goroutine, which stop ends and waits for. warm is closed after its first
// successful write; after killAt is set, the end time of the first
// successful write that started at or after it is sent on first.
type killWriter struct {
	cl     *client.Client
	killAt atomic.Int64 // unix nanoseconds; 0 until the kill
	warm   chan struct{}
	first  chan time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func startKillWriter(b *testing.B, addr string, timeout time.Duration) *killWriter {
	b.Helper()
	cl, err := client.New(addr)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &killWriter{cl: cl, warm: make(chan struct{}), first: make(chan time.Time, 1), cancel: cancel}
	w.wg.Add(1)
	go w.run(ctx, timeout)
	return w
}

func (w *killWriter) run(ctx context.Context, timeout time.Duration) {
	defer w.wg.Done()
	value := make([]byte, 128)
	var warmed bool
	for seq := 0; ctx.Err() == nil; seq++ {
		start := time.Now()
		octx, cancel := context.WithTimeout(ctx, timeout)
		// Errors are expected around the kill (a forward cut mid-flight
		// reports an unknown outcome): the writer simply writes again.
		_, err := w.cl.KV().Put(octx, fmt.Sprintf("bench/kill/%09d", seq), value)
		cancel()
		end := time.Now()
		if err != nil {
			continue
		}
		if !warmed {
			warmed = true
			close(w.warm)
		}
		// A write that started before the kill may have been committed by
		// the old leader: only one issued after it proves a new leader.
		if k := w.killAt.Load(); k != 0 && start.UnixNano() >= k {
			w.first <- end
			return
		}
	}
}

// stop ends the writer, waits for it and closes its client. Idempotent.
func (w *killWriter) stop() {
	w.once.Do(func() {
		w.cancel()
		w.wg.Wait()
		_ = w.cl.Close()
	})
}

// BenchmarkFollowerRestart kills a follower, writes through the leader for
// 8 s, restarts the follower on its data dir and times the restart until
// the cluster has settled again (every node a caught-up voter following
// the leader, a write through every node's API). hashicorp/raft backs off
// its replication to a dead peer up to 10 s; how soon the leader sends the
// log again to the peer once it is back decides most of this figure. One
// iteration is one restart; the kill and the writes are outside the timer.
func BenchmarkFollowerRestart(b *testing.B) {
	cfg := DefaultConfig()
	r := NewReport(b, "FollowerRestart: a follower killed while the leader takes writes for 8 s, restarted; restart → settled and caught up")
	c := startCluster(b, r)
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		f := c.Follower()
		cl := c.Client(c.Leader())
		c.Kill(f)
		value := make([]byte, 128)
		for seq, end := 0, time.Now().Add(8*time.Second); time.Now().Before(end); seq++ {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
			_, err := cl.KV().Put(ctx, fmt.Sprintf("bench/restart/%09d", seq), value)
			cancel()
			if err != nil {
				b.Fatalf("write while %s is down: %v", f.Name, err)
			}
		}
		b.StartTimer()
		start := time.Now()
		c.Restart(f)
		ds = append(ds, time.Since(start))
	}
	s := Summarize(ds)
	r.Metric("restart_to_settled_p50_ms", Millis(s.P50), Target{})
	r.Metric("restart_to_settled_max_ms", Millis(s.Max), Target{})
	r.Note("%d restarts: %s", len(ds), fmt.Sprint(roundAll(ds, time.Millisecond)))
	r.Log()
}
