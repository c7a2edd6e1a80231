package raftcore

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// heldFuture is a configuration change raft never answers, as it does not
// after its shutdown for an entry still in flight (hashicorp/raft#498).
// Error blocks until released (at the end of the test).
type heldFuture struct {
	waiting chan<- struct{} // told once a caller waits
	release <-chan struct{}
}

func (f heldFuture) Error() error {
	select {
	case f.waiting <- struct{}{}:
	default:
	}
	<-f.release
	return raft.ErrRaftShutdown
}

func (heldFuture) Index() uint64 { return 0 }

// heldRaft is the real raft with every configuration change held back.
type heldRaft struct {
	raftNode
	f heldFuture
}

func (r heldRaft) AddVoter(raft.ServerID, raft.ServerAddress, uint64, time.Duration) raft.IndexFuture {
	return r.f
}

func (r heldRaft) AddNonvoter(raft.ServerID, raft.ServerAddress, uint64, time.Duration) raft.IndexFuture {
	return r.f
}

func (r heldRaft) DemoteVoter(raft.ServerID, uint64, time.Duration) raft.IndexFuture { return r.f }

func (r heldRaft) RemoveServer(raft.ServerID, uint64, time.Duration) raft.IndexFuture { return r.f }

func (r heldRaft) LeadershipTransferToServer(raft.ServerID, raft.ServerAddress) raft.Future {
	return r.f
}

// The reconciler's changes wait for raft's answer only until the Core
// shuts down: a future raft never answers must not hold the leader loop
// (and so Run) for ever.
func TestApplyChangeWaitEndsAtShutdown(t *testing.T) {
	for _, ch := range []Change{
		{Kind: AddVoter, ID: "n2", Addr: "127.0.0.1:1"},
		{Kind: AddStandby, ID: "n2", Addr: "127.0.0.1:1"},
		{Kind: UpdateAddr, ID: "n2", Addr: "127.0.0.1:1", Voter: true},
		{Kind: UpdateAddr, ID: "n2", Addr: "127.0.0.1:1"},
		{Kind: Demote, ID: "n2"},
		{Kind: Remove, ID: "n2"},
		{Kind: TransferLeadership, ID: "n2", Addr: "127.0.0.1:1"},
	} {
		name := ch.Kind.String()
		if ch.Kind == UpdateAddr && ch.Voter {
			name += "-voter"
		}
		t.Run(name, func(t *testing.T) {
			c := newMemCore(t, t.TempDir(), memStores())
			waiting, release := make(chan struct{}, 1), make(chan struct{})
			t.Cleanup(func() { close(release) })
			c.raft = heldRaft{raftNode: c.raft, f: heldFuture{waiting: waiting, release: release}}

			done := make(chan error, 1)
			go func() { done <- c.applyChange(ch) }()
			select {
			case <-waiting:
			case err := <-done:
				t.Fatalf("applyChange returned %v before raft answered", err)
			case <-time.After(10 * time.Second):
				t.Fatal("applyChange never waited on the change's future")
			}
			if err := c.Shutdown(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, errStoppedInFlight) {
					t.Fatalf("applyChange after shutdown: %v, want errStoppedInFlight", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("applyChange still waiting 10s after the Core shut down")
			}
		})
	}
}
