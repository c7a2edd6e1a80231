package pg

import (
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The requests of sessions and of readers, as the node's API serves them.
// A key's zero scope is DefaultScope. Writes (Join, Leave, Broadcast) take
// application names only; reads (Members, Groups, Monitor) may name the
// reserved ones. A session named by a request must be open on this node
// (Sessions), since a node only ever announces its own members.

// Join makes the session pid, open on this node, a member of k. Joining
// twice is harmless. It needs no Raft: it works while the core has no
// leader. Errors: ErrInvalid, ErrNoSession (not open here, or it ended
// while joining), ErrStopped.
func (s *Service) Join(k Key, pid string) error {
	k = scoped(k)
	if err := ValidateKey(k, false); err != nil {
		return err
	}
	done, err := s.session(pid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrStopped
	}
	d, changes := s.state.Join(k, pid)
	s.publishLocked(d, changes)
	s.mu.Unlock()
	select {
	case <-done:
		// The session ended meanwhile, and its end (LeaveAll) may have
		// run before the join: leave again so nothing outlives it.
		s.LeaveAll(pid)
		return fmt.Errorf("%w: %q ended", ErrNoSession, pid)
	default:
	}
	return nil
}

// Leave ends the membership of k of the session pid, open on this node;
// ErrNotMember if it had none.
func (s *Service) Leave(k Key, pid string) error {
	k = scoped(k)
	if err := ValidateKey(k, false); err != nil {
		return err
	}
	if _, err := s.session(pid); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	d, changes := s.state.Leave(k, pid)
	if d.Empty() {
		return fmt.Errorf("%w: %s of %s", ErrNotMember, pid, k)
	}
	s.publishLocked(d, changes)
	return nil
}

// LeaveAll ends every membership of the local session pid: the node calls
// it when the session ends.
func (s *Service) LeaveAll(pid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, changes := s.state.LeaveAll(pid)
	s.publishLocked(d, changes)
}

// session checks that pid is a session open on this node and returns its
// Done channel.
func (s *Service) session(pid string) (<-chan struct{}, error) {
	if err := wire.ValidatePID("pid", pid); err != nil {
		return nil, err
	}
	done, ok := s.sessions.Lookup(pid)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, s.node)
	}
	if wire.NodeOf(pid) != s.node {
		// Sessions holds this node's sessions only; a member this node
		// announced for another node would be that node's to announce.
		return nil, wire.Invalidf("pid", "%q is not a session of node %s", pid, s.node)
	}
	return done, nil
}

// Members lists k's members on every node (localOnly: on this node), as
// this node knows them, sorted.
func (s *Service) Members(k Key, localOnly bool) ([]string, error) {
	k = scoped(k)
	if err := ValidateKey(k, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if localOnly {
		return s.state.LocalMembers(k), nil
	}
	return s.state.Members(k), nil
}

// Groups lists the groups of scope ("" is DefaultScope) that have members
// on any node, by name.
func (s *Service) Groups(scope string) ([]GroupInfo, error) {
	if scope == "" {
		scope = DefaultScope
	}
	if err := wire.ValidateName("scope", scope, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Groups(scope), nil
}
