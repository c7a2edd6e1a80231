package client

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Member is one node as the agent's gossip view and Raft configuration see it.
type Member struct {
	Name          string
	Addr          string // gossip address, host:port
	State         string // alive | suspect | dead | left
	FailureDomain string
	Priority      int64 // lower is preferred for a voter seat
	Eligible      bool
	RoleHint      string // the node's raft.role setting: auto | client
	RaftRole      string // voter | standby | client
	InternodeAddr string
	APIAddr       string // gRPC address
	HTTPAddr      string
	Leader        bool // the Raft leader as far as the agent knows
	ClusterID     string
}

// RaftServer is one node of the Raft core: a configuration entry (voter or
// standby) or a live client node outside the configuration.
type RaftServer struct {
	ID            string
	Address       string // "" for a client
	Suffrage      string // voter | nonvoter; "" for a client
	Role          string // voter | standby | client
	Leader        bool
	FailureDomain string
	Priority      int
}

// RaftStatus is the agent's view of the Raft core.
type RaftStatus struct {
	Node         string
	State        string // leader | follower | candidate | shutdown | client
	Term         uint64
	LeaderID     string
	LeaderAddr   string
	ClusterID    string
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	LastContact  time.Duration // since the last contact with the leader; 0 on the leader
	Servers      []RaftServer
	// Admitted lists the servers admitted to the core (raft.admission:
	// manual), by name; empty when the agent is a client node.
	Admitted []string
}

// KVEntry is one key. Version is the Raft index of the write that last
// changed the key; CreateIndex that of the write that created it.
type KVEntry struct {
	Key         string
	Value       []byte
	Version     uint64
	CreateIndex uint64
	// Clock is set for an entry of the eventual store (Version and
	// CreateIndex are 0 there).
	Clock *EventualClock
}

// EventualClock is the hybrid logical clock stamp of an eventual-store
// entry's winning write: of two writes of a key, the higher (WallNs,
// Logical, Origin) wins on every node.
type EventualClock struct {
	WallNs  int64  // the writer's wall clock, nanoseconds since the Unix epoch
	Logical uint32 // orders writes within the same WallNs
	Origin  string // the node that wrote it
}

// Time is the stamp's wall clock.
func (c EventualClock) Time() time.Time { return time.Unix(0, c.WallNs).UTC() }

func memberFromPB(m *pb.Member) Member {
	return Member{
		Name:          m.GetName(),
		Addr:          m.GetAddr(),
		State:         m.GetState(),
		FailureDomain: m.GetFailureDomain(),
		Priority:      m.GetPriority(),
		Eligible:      m.GetEligible(),
		RoleHint:      m.GetRoleHint(),
		RaftRole:      m.GetRaftRole(),
		InternodeAddr: m.GetInternodeAddr(),
		APIAddr:       m.GetApiAddr(),
		HTTPAddr:      m.GetHttpAddr(),
		Leader:        m.GetLeader(),
		ClusterID:     m.GetClusterId(),
	}
}

func raftStatusFromPB(s *pb.RaftStatus) RaftStatus {
	out := RaftStatus{
		Node:         s.GetNode(),
		State:        s.GetState(),
		Term:         s.GetTerm(),
		LeaderID:     s.GetLeaderId(),
		LeaderAddr:   s.GetLeaderAddr(),
		ClusterID:    s.GetClusterId(),
		CommitIndex:  s.GetCommitIndex(),
		AppliedIndex: s.GetAppliedIndex(),
		LastIndex:    s.GetLastIndex(),
		LastContact:  s.GetLastContact().AsDuration(),
		Admitted:     s.GetAdmitted(),
	}
	for _, srv := range s.GetServers() {
		out.Servers = append(out.Servers, RaftServer{
			ID:            srv.GetId(),
			Address:       srv.GetAddress(),
			Suffrage:      srv.GetSuffrage(),
			Leader:        srv.GetLeader(),
			Role:          srv.GetRole(),
			FailureDomain: srv.GetFailureDomain(),
			Priority:      int(srv.GetPriority()),
		})
	}
	return out
}

func kvEntryFromPB(e *pb.KVEntry) KVEntry {
	return KVEntry{
		Key:         e.GetKey(),
		Value:       e.GetValue(),
		Version:     e.GetVersion(),
		CreateIndex: e.GetCreateIndex(),
		Clock:       clockFromPB(e.GetClock()),
	}
}

func clockFromPB(c *pb.EventualClock) *EventualClock {
	if c == nil {
		return nil
	}
	return &EventualClock{WallNs: c.GetWallNs(), Logical: c.GetLogical(), Origin: c.GetOrigin()}
}

// SessionEventKind says what happened to one of a session's locks.
type SessionEventKind string

const (
	// EventLockGranted: a lock the session queued for was granted.
	EventLockGranted SessionEventKind = "lock_granted"
	// EventLockAtRisk: the agent lost contact with the Raft core; the
	// cluster may release the lock if it declares the agent's node gone.
	EventLockAtRisk SessionEventKind = "lock_at_risk"
	// EventLockSafe: contact is back after EventLockAtRisk.
	EventLockSafe SessionEventKind = "lock_safe"
	// EventLockLost: the cluster released the lock; the session no longer
	// holds it.
	EventLockLost SessionEventKind = "lock_lost"
	// EventNameRevoked: an eventual name the session registered lost a
	// conflict to another origin; Name is the name, Owner the winner.
	EventNameRevoked SessionEventKind = "name_revoked"
	// EventGroupMessage: a broadcast to a group the session joined.
	EventGroupMessage SessionEventKind = "group_message"
	// EventUnknown: a kind this SDK does not know (a newer agent).
	EventUnknown SessionEventKind = "unknown"
)

// SessionEvent is delivered on Session.Events.
type SessionEvent struct {
	Kind   SessionEventKind
	Lock   string // the lock's name
	Token  uint64 // the fencing token of the grant the event is about
	Detail string // why, for humans
	// EventNameRevoked: the name and the PID that owns it now.
	Name  string
	Owner string
	// EventGroupMessage: the group (scope and name), the sender and the message.
	Scope   string
	Group   string
	From    string
	Payload []byte
}

// LockInfo is one lock as the replicated lock table holds it.
type LockInfo struct {
	Name       string
	Holder     string // PID; "" while an auto-released lock is held back
	Token      uint64 // fencing token of the current grant
	GrantedAt  time.Time
	LockDelay  time.Duration
	DelayUntil time.Time // non-zero while an auto-released lock is held back
	Waiters    []LockWaiter
}

// LockWaiter is one queued acquirer, first to be granted first.
type LockWaiter struct {
	PID      string
	Deadline time.Time // when its wait ends unanswered
}

func sessionEventFromPB(e *pb.SessionEvent) SessionEvent {
	kind := EventUnknown
	switch e.GetKind() {
	case pb.SessionEvent_LOCK_GRANTED:
		kind = EventLockGranted
	case pb.SessionEvent_LOCK_AT_RISK:
		kind = EventLockAtRisk
	case pb.SessionEvent_LOCK_SAFE:
		kind = EventLockSafe
	case pb.SessionEvent_LOCK_LOST:
		kind = EventLockLost
	case pb.SessionEvent_NAME_REVOKED:
		kind = EventNameRevoked
	case pb.SessionEvent_GROUP_MESSAGE:
		kind = EventGroupMessage
	}
	return SessionEvent{
		Kind: kind, Lock: e.GetLock(), Token: e.GetToken(), Detail: e.GetDetail(),
		Name: e.GetName(), Owner: e.GetOwner(),
		Scope: e.GetScope(), Group: e.GetGroup(), From: e.GetFrom(), Payload: e.GetPayload(),
	}
}

func lockInfoFromPB(l *pb.LockInfo) LockInfo {
	out := LockInfo{
		Name:       l.GetName(),
		Holder:     l.GetHolder(),
		Token:      l.GetToken(),
		GrantedAt:  timeFromPB(l.GetGrantedAt()),
		LockDelay:  l.GetLockDelay().AsDuration(),
		DelayUntil: timeFromPB(l.GetDelayUntil()),
	}
	for _, w := range l.GetWaiters() {
		out.Waiters = append(out.Waiters, LockWaiter{PID: w.GetPid(), Deadline: timeFromPB(w.GetDeadline())})
	}
	return out
}

// timeFromPB maps an unset timestamp to the zero time (AsTime would give
// 1970).
func timeFromPB(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}
