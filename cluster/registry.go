package cluster

import (
	"fmt"

	"github.com/conclave-dev/conclave/cluster/session"
	"github.com/conclave-dev/conclave/registry"
)

// newRegistry builds the service registry before the core: its table goes
// into the FSM. Its adapters reach the core at call time (requests and
// Run come after New). A node that is not a Raft member (a client) holds
// no live replica, so the service mirrors a server's table.
func (n *Node) newRegistry(local bool) (*registry.Service, error) {
	cfg := registry.DefaultConfig()
	if local {
		cfg = registry.DefaultLocalConfig()
	}
	svc, err := registry.New(cfg, n.Name(), proposer{n}, registrySessions{n.sessions},
		registry.WithLogger(n.log), registry.WithClock(n.clock.Now),
		registry.WithReplica(func() bool { return n.core == nil || n.core.IsMember() }))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return svc, nil
}

// registrySessions adapts the session table to registry.Sessions.
type registrySessions struct{ s *session.Service }

func (r registrySessions) Lookup(pid string) (<-chan struct{}, bool) {
	ss, ok := r.s.Lookup(pid)
	if !ok {
		return nil, false
	}
	return ss.Done(), true
}
