package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

// appendHolds holds the appends to one node's Raft log at a time: give
// options() to testcluster.New, then hold a node.
type appendHolds struct{ cur atomic.Pointer[heldAppends] }

// heldAppends holds every append to one node's Raft log until released.
type heldAppends struct {
	node    string
	once    sync.Once
	entered chan struct{} // closed at the first held append
	release chan struct{}
}

func (a *appendHolds) options() testcluster.Options {
	return testcluster.Options{LogAppend: func(node string) error {
		if h := a.cur.Load(); h != nil && h.node == node {
			h.once.Do(func() { close(h.entered) })
			<-h.release
		}
		return nil
	}}
}

// hold holds node's appends from now on; entered is closed at the first
// one, and release (idempotent, also run at the test's end) lets them go.
func (a *appendHolds) hold(t *testing.T, node string) (entered <-chan struct{}, release func()) {
	h := &heldAppends{node: node, entered: make(chan struct{}), release: make(chan struct{})}
	a.cur.Store(h)
	var once sync.Once
	release = func() {
		once.Do(func() {
			a.cur.Store(nil)
			close(h.release)
		})
	}
	t.Cleanup(release)
	return h.entered, release
}

// The leader replicates its new entries before it has synced them itself
// (early replication): while the leader's own append is held, a follower
// stores the entry; the write is acknowledged only once the leader's
// append completes, so no write is acknowledged before a majority, the
// leader included, has synced it.
func TestLeaderSendsEntriesBeforeItsOwnSync(t *testing.T) {
	var holds appendHolds
	c := testcluster.New(t, 3, holds.options())
	leader := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	ctx := ctxT(t)
	i := 0
	testcluster.WaitFor(t, 10*time.Second, "the leader replicating entries before its own sync", func() bool {
		i++
		if _, err := leader.KV().Put(ctx, fmt.Sprintf("warm/%d", i), []byte("v")); err != nil {
			t.Fatalf("put: %v", err)
		}
		return leader.EarlyAppends() > 0
	})

	stored := leader.RaftStatus().LastIndex // every entry so far: the puts were acknowledged
	entered, release := holds.hold(t, leader.Name)
	done := make(chan error, 1)
	go func() {
		_, err := leader.KV().Put(context.Background(), "held", []byte("v"))
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader never appended the put")
	}
	testcluster.WaitFor(t, 5*time.Second, "a follower storing the entry the leader holds", func() bool {
		for _, n := range c.Running() {
			if n != leader && n.RaftStatus().LastIndex > stored {
				return true
			}
		}
		return false
	})
	select {
	case err := <-done:
		t.Fatalf("put acknowledged (err %v) before the leader stored its entry", err)
	default:
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("put after the leader's append completed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("put not acknowledged after the leader's append completed")
	}
}
