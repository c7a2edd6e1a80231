package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/naming"
)

// Requests with a 10 s deadline through a follower ride through graceful
// stops of the leader: KV puts, KV gets and strong name registrations all
// succeed once the new leader is up; none fails on the first forward error.
// Three rounds: each stops the current leader (never the node the requests
// go through) and restarts it once the new leader serves.
func TestRequestsRideThroughLeaderStop(t *testing.T) {
	c := testcluster.New(t, 4, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		if i == 3 {
			cfg.Cluster.Raft.Role = config.RoleClient
		}
	}})
	leader := c.WaitLeader(20 * time.Second)
	// Requests go through a follower and through a client node (no
	// replica: it finds the leader from gossip adverts).
	var follower *testcluster.Node
	for _, n := range c.Running()[:3] {
		if n != leader {
			follower = n
			break
		}
	}
	vias := []*testcluster.Node{follower, c.Running()[3]}
	var pids []string
	for _, via := range vias {
		pids = append(pids, openSession(t, via).PID())
	}
	if _, err := follower.KV().Put(ctxT(t), "k/0", []byte("v")); err != nil {
		t.Fatal(err)
	}

	var (
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		mu       sync.Mutex
		failures []string
		done     [3]atomic.Int64
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failures) > 0
	}
	worker := func(kind, id int, op func(ctx context.Context, i int) error) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			start := time.Now()
			err := op(ctx, i)
			cancel()
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("worker %d/%d op %d after %s: %v", kind, id, i, time.Since(start).Round(time.Millisecond), err))
				mu.Unlock()
				return
			}
			done[kind].Add(1)
			if kind == 1 {
				time.Sleep(time.Millisecond) // the reader's pace, to leave CPU to the rest
			}
		}
	}
	for id := 0; id < 4; id++ {
		via, pid := vias[id%2], pids[id%2]
		wg.Add(2)
		go worker(0, id, func(ctx context.Context, i int) error {
			_, err := via.KV().Put(ctx, fmt.Sprintf("k/%d/%d", id, i), []byte("v"))
			return err
		})
		go worker(2, id, func(ctx context.Context, i int) error {
			_, err := via.Names().Register(ctx, pid, fmt.Sprintf("svc-%d-%d", id, i), naming.ScopeStrong, nil)
			return err
		})
	}
	for id, via := range vias {
		wg.Add(1)
		go worker(1, id, func(ctx context.Context, _ int) error {
			_, err := via.KV().Get(ctx, "k/0", 0)
			return err
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	flowing := func(what string, since [3]int64) {
		t.Helper()
		testcluster.WaitFor(t, 15*time.Second, what, func() bool {
			return failed() || (done[0].Load() > since[0]+10 && done[1].Load() > since[1]+10 && done[2].Load() > since[2]+10)
		})
	}
	snapshot := func() [3]int64 { return [3]int64{done[0].Load(), done[1].Load(), done[2].Load()} }
	flowing("requests flowing", snapshot())
	for round := 0; round < 3 && !failed(); round++ {
		before := snapshot()
		c.Stop(leader)
		newLeader := c.WaitLeader(20 * time.Second)
		flowing("requests flowing under the new leader", before)
		t.Logf("round %d: leader %s stopped, new leader %s", round, leader.Name, newLeader.Name)
		c.Restart(leader)
		if newLeader == follower {
			break // the next stop would stop a node the requests go through
		}
		leader = newLeader
	}
	mu.Lock()
	for _, f := range failures {
		t.Error(f)
	}
	mu.Unlock()
	t.Logf("ops done: put %d, get %d, strong register %d", done[0].Load(), done[1].Load(), done[2].Load())
}
