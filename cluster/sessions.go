package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/conclave-dev/conclave/cluster/session"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
)

// Sessions are package session's; the Node delegates to its service. The
// types and constants keep their cluster names (api and the tests use them).
type (
	// Session is an application's presence on this node: the holder of
	// locks, names and group memberships.
	Session = session.Session
	// SessionEvent is delivered on a session's event channel.
	SessionEvent = session.Event
	// SessionEventKind says what happened to a session or one of its locks.
	SessionEventKind = session.EventKind
)

// The session events and bounds.
const (
	EventLockGranted  = session.EventLockGranted
	EventLockAtRisk   = session.EventLockAtRisk
	EventLockSafe     = session.EventLockSafe
	EventLockLost     = session.EventLockLost
	EventNameRevoked  = session.EventNameRevoked
	EventGroupMessage = session.EventGroupMessage

	// DefaultSessionTTL is how long a session lives without a keepalive.
	DefaultSessionTTL = session.DefaultTTL
	// MinSessionTTL and MaxSessionTTL bound what a client may ask for.
	MinSessionTTL = session.MinTTL
	MaxSessionTTL = session.MaxTTL
)

// OpenSession opens a session on this node with the keepalive ttl
// (0 = DefaultSessionTTL). It costs no Raft traffic.
func (n *Node) OpenSession(ctx context.Context, ttl time.Duration) (*Session, error) {
	s, err := n.sessions.Open(ctx, ttl)
	if errors.Is(err, session.ErrClosed) {
		return nil, fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return s, err
}

// LookupSession returns the open session with this PID on this node.
func (n *Node) LookupSession(pid string) (*Session, bool) { return n.sessions.Lookup(pid) }

// newSessions builds the session service, before the services that hold
// things for sessions (their adapters need it). The adapters reach the lock
// and name services, the core and gossip at call time: the service calls
// them only from Run and requests, which come after New.
func (n *Node) newSessions(fresh, local bool) (*session.Service, error) {
	cfg := session.DefaultConfig(n.Name())
	if local {
		cfg = session.DefaultLocalConfig(n.Name())
	}
	cfg.Fresh = fresh
	svc, err := session.New(cfg, session.Deps{Proposer: proposer{n}, Owners: owners{n}, Members: members{n}},
		session.WithLogger(n.log), session.WithHeld(func(pid string) map[string]uint64 { return n.lockSvc.Held(pid) }))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return svc, nil
}

// owners adapts the lock and name tables and services to session.Owners.
type owners struct{ n *Node }

// Nodes lists the nodes whose sessions hold something in this replica's
// lock, name or registry table.
func (o owners) Nodes() []string {
	return slices.Concat(o.n.lockTable.Nodes(), o.n.names.Table().Nodes(), o.n.registry.Table().Nodes())
}

// PIDs lists the PIDs of node that hold or wait for a lock, a semaphore
// slot or an election's leadership, hold a
// consistent or strong name or own a service instance, read through the
// leader.
func (o owners) PIDs(ctx context.Context, node string) ([]string, error) {
	pids, err := o.pids(ctx, node)
	if errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("%w: %w", session.ErrCannotList, err)
	}
	return pids, err
}

func (o owners) pids(ctx context.Context, node string) ([]string, error) {
	ls, err := o.n.lockSvc.List(ctx, "", ReadDefault)
	if err != nil {
		return nil, err
	}
	ss, err := o.n.lockSvc.SemList(ctx, "", ReadDefault)
	if err != nil {
		return nil, err
	}
	es, err := o.n.lockSvc.Elections(ctx, "", ReadDefault)
	if err != nil {
		return nil, err
	}
	bs, err := o.n.names.List(ctx, "", naming.ScopeConsistent, ReadDefault)
	if err != nil {
		return nil, err
	}
	strong, err := o.n.names.List(ctx, "", naming.ScopeStrong, ReadDefault)
	if err != nil {
		return nil, err
	}
	out, err := o.n.registry.PIDs(ctx, node)
	if err != nil {
		return nil, err
	}
	add := func(pid string) {
		if wire.NodeOf(pid) == node {
			out = append(out, pid)
		}
	}
	for _, l := range ls {
		add(l.Holder)
		for _, w := range l.Waiters {
			add(w.PID)
		}
	}
	for _, s := range ss {
		for _, h := range s.Holders {
			add(h.PID)
		}
		for _, w := range s.Waiters {
			add(w.PID)
		}
	}
	for _, e := range es {
		add(e.Leader)
		for _, c := range e.Candidates {
			add(c.PID)
		}
	}
	for _, b := range append(bs, strong...) {
		add(b.PID)
	}
	return out, nil
}

// members adapts the gossip membership to session.Members.
type members struct{ n *Node }

func (m members) Alive(node string) bool {
	mb, ok := m.n.ml.Member(node)
	return ok && mb.State == gossip.StateAlive
}

// lockSessions adapts the session service to locks.Sessions.
type lockSessions struct{ s *session.Service }

func (l lockSessions) Lookup(pid string) (<-chan struct{}, bool) {
	ss, ok := l.s.Lookup(pid)
	if !ok {
		return nil, false
	}
	return ss.Done(), true
}

func (l lockSessions) Emit(pid string, n locks.Notice) {
	l.s.Emit(pid, SessionEvent{Kind: lockEventKind(n.Kind), Lock: n.Lock, Token: n.Token, Detail: n.Detail})
}

// lockEventKind is the session event of a lock notice.
func lockEventKind(k locks.NoticeKind) SessionEventKind {
	switch k {
	case locks.NoticeGranted:
		return EventLockGranted
	case locks.NoticeAtRisk:
		return EventLockAtRisk
	case locks.NoticeSafe:
		return EventLockSafe
	case locks.NoticeLost:
		return EventLockLost
	}
	return SessionEventKind(k)
}
