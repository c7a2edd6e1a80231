package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/raftcore"
)

// A caller's own deadline comes back as context.DeadlineExceeded (gRPC
// DeadlineExceeded), not as ErrUnavailable: on a node cut off from the
// leader (nothing sent), and on a client node whose write reached a leader
// that cannot commit it (sent: outcome unknown, and the message says so).
func TestCallerDeadlineIsDeadlineExceeded(t *testing.T) {
	c := testcluster.New(t, 4, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		if i == 3 {
			cfg.Cluster.Raft.Role = config.RoleClient
		}
	}})
	leader := c.WaitLeader(20 * time.Second)
	nodes := c.Running()
	client := nodes[3]
	var followers []*testcluster.Node
	for _, n := range nodes[:3] {
		if n != leader {
			followers = append(followers, n)
		}
	}
	testcluster.WaitFor(t, 10*time.Second, "the client node writing through the leader", func() bool {
		_, err := client.KV().Put(ctxT(t), "warm", []byte("v"))
		return err == nil
	})

	// The leader can still reach the client but no voter: it leads for its
	// lease, accepts the forwarded write and cannot commit it.
	c.CutMesh(leader, followers[0])
	c.CutMesh(leader, followers[1])
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	start := time.Now()
	_, err := client.KV().Put(ctx, "sent", []byte("v"))
	cancel()
	t.Logf("write sent to a leader without quorum, 150 ms deadline: %v after %s", err, time.Since(start).Round(time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cluster.ErrUnavailable) ||
		!errors.Is(err, raftcore.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "the write may have been applied") {
		t.Fatalf("write past the caller's deadline = %v, want DeadlineExceeded saying the write may have been applied", err)
	}

	// A follower cut off from every node sends nothing: plain deadline.
	// (Cut off from the leader alone, it and the other follower are a
	// majority that may elect a new leader within the deadline.)
	c.Isolate(followers[0])
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = followers[0].KV().Put(ctx, "unsent", []byte("v"))
	cancel()
	t.Logf("write from a follower cut off from the leader, 300 ms deadline: %v", err)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cluster.ErrUnavailable) || errors.Is(err, raftcore.ErrOutcomeUnknown) {
		t.Fatalf("unsent write past the caller's deadline = %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = followers[0].KV().Get(ctx, "warm", cluster.ReadDefault)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("read past the caller's deadline = %v, want DeadlineExceeded", err)
	}
	c.Heal()
}

// A list whose answer exceeds the mesh frame fails at once through a
// follower with ErrTooLarge naming the limit, instead of retrying for the
// bounded wait and reporting no leader; a limit gets the first part.
func TestListTooLargeForTheMesh(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	via := lkFollowers(c, leader)[0]
	value := make([]byte, cluster.MaxValueBytes)
	for i := 0; i < 10; i++ { // 5 MiB of values
		if _, err := leader.KV().Put(ctxT(t), fmt.Sprintf("big/%02d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	// Retrying the oversize reply would end, after the bounded wait, in
	// Unavailable ("no leader with quorum"); so the error kind is what
	// shows it failed at once. But a leader starved by another test run
	// can take longer than the bounded wait to build 5 MiB of reply (seen:
	// over 3 s with two race-detector suites on 2 cores), and that too
	// ends in Unavailable, after a forward that timed out: tried again.
	var err error
	for attempt := 1; ; attempt++ {
		start := time.Now()
		_, err = via.KV().List(ctxT(t), "big/", 0, cluster.ReadDefault)
		t.Logf("list of 5 MiB through a follower: %v after %s", err, time.Since(start).Round(time.Millisecond))
		if attempt == 3 || !errors.Is(err, cluster.ErrUnavailable) {
			break
		}
	}
	if !errors.Is(err, cluster.ErrTooLarge) || errors.Is(err, cluster.ErrUnavailable) ||
		!strings.Contains(err.Error(), "4 MiB") || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("oversize list = %v, want ErrTooLarge naming the 4 MiB limit", err)
	}
	es, err := via.KV().List(ctxT(t), "big/", 4, cluster.ReadDefault)
	if err != nil || len(es) != 4 {
		t.Fatalf("list with limit 4 = %d entries, %v", len(es), err)
	}
}
