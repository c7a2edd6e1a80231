package raftcore

import (
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// raftNode is the part of *raft.Raft the Core uses, and nothing more (as
// hashicorp/raft-autopilot declares its Raft interface). New builds it with
// raft.NewRaft; tests may wrap it to hold a future back or fail a call.
//
// Every method is safe to call from any goroutine. A method returning a
// future waits only to hand its request to raft's loop (at most the timeout
// given, where there is one, and never past raft's shutdown); the caller
// then waits on the future, through Core.await where the wait must end at
// the Core's shutdown (raft never answers some futures after its own).
// The getters read raft's atomics, a short lock or its latest configuration
// (GetConfiguration answers at once) and do not block.
type raftNode interface {
	// State, CurrentTerm, LeaderWithID, LastContact and the indexes are
	// read by Status, the advert, forwarding and the leader loop.
	State() raft.RaftState
	CurrentTerm() uint64
	LeaderWithID() (raft.ServerAddress, raft.ServerID)
	LastContact() time.Time
	CommitIndex() uint64
	AppliedIndex() uint64
	LastIndex() uint64
	// Stats is read for the last log term, by a voter whose leader has
	// gone silent (leaderloss.go).
	Stats() map[string]string
	// GetConfiguration is read on every membership refresh.
	GetConfiguration() raft.ConfigurationFuture

	// BootstrapCluster is called once, by the bootstrapper.
	BootstrapCluster(configuration raft.Configuration) raft.Future
	// ApplyLog, Barrier and VerifyLeader serve proposals (each with its
	// checksum in the entry's Extensions), the leader's barrier at the
	// start of its term, and consistent reads.
	ApplyLog(log raft.Log, timeout time.Duration) raft.ApplyFuture
	Barrier(timeout time.Duration) raft.Future
	VerifyLeader() raft.Future

	// The configuration changes of the reconciler and of RemoveServer.
	AddVoter(id raft.ServerID, address raft.ServerAddress, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	AddNonvoter(id raft.ServerID, address raft.ServerAddress, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	DemoteVoter(id raft.ServerID, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	RemoveServer(id raft.ServerID, prevIndex uint64, timeout time.Duration) raft.IndexFuture
	// LeadershipTransfer hands leadership to any voter (Stop, Leave);
	// LeadershipTransferToServer to the one the planner chose.
	LeadershipTransfer() raft.Future
	LeadershipTransferToServer(id raft.ServerID, address raft.ServerAddress) raft.Future

	// Snapshot and Restore serve an operator's snapshot save and restore.
	Snapshot() raft.SnapshotFuture
	Restore(meta *raft.SnapshotMeta, reader io.Reader, timeout time.Duration) error

	// RegisterObserver and DeregisterObserver bracket the Core's life.
	RegisterObserver(or *raft.Observer)
	DeregisterObserver(or *raft.Observer)
	// Shutdown stops raft; Core.Shutdown waits for its future.
	Shutdown() raft.Future
}

var _ raftNode = (*raft.Raft)(nil)
