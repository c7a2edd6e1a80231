package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Scope is how far a name is visible and what it promises (DESIGN §8).
type Scope int

const (
	// ScopeAll, in List, means every scope.
	ScopeAll Scope = iota
	// ScopeLocal: the agent's node only; instant.
	ScopeLocal
	// ScopeEventual: gossip-replicated; converges in a few gossip rounds;
	// a conflict picks the same winner everywhere and the loser's session
	// gets EventNameRevoked.
	ScopeEventual
	// ScopeConsistent: Raft-replicated, first write wins.
	ScopeConsistent
	// ScopeStrong: as consistent, and every live node acknowledges the
	// name before it is active.
	ScopeStrong
)

func (s Scope) String() string {
	switch s {
	case ScopeAll:
		return "all"
	case ScopeLocal:
		return "local"
	case ScopeEventual:
		return "eventual"
	case ScopeConsistent:
		return "consistent"
	case ScopeStrong:
		return "strong"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope reads a scope's name: local, eventual, consistent, strong
// (or all).
func ParseScope(s string) (Scope, error) {
	for _, sc := range []Scope{ScopeAll, ScopeLocal, ScopeEventual, ScopeConsistent, ScopeStrong} {
		if sc.String() == s {
			return sc, nil
		}
	}
	return 0, fmt.Errorf("scope %q: want local, eventual, consistent or strong", s)
}

func (s Scope) pb() pb.NameScope { return pb.NameScope(s) }

// Binding is a name bound to a session.
type Binding struct {
	Name     string
	PID      string // the owning session
	Scope    Scope
	Metadata []byte
	// Index is the Raft index that made a consistent or strong binding
	// active; 0 for local and eventual ones.
	Index        uint64
	RegisteredAt time.Time
}

func bindingFromPB(b *pb.NameBinding) Binding {
	return Binding{Name: b.GetName(), PID: b.GetPid(), Scope: Scope(b.GetScope()), Metadata: b.GetMetadata(),
		Index: b.GetIndex(), RegisteredAt: timeFromPB(b.GetRegisteredAt())}
}

// IsNameTaken reports a registration refused because another session owns
// the name; the error's message names the owner.
func IsNameTaken(err error) bool { return status.Code(err) == codes.AlreadyExists }

// Register binds name to this session in scope, with optional metadata (at
// most 4 KiB). It fails with IsNameTaken, naming the owner, if another
// session holds the name; registering it again from this session returns
// the binding. The name is released when the session ends.
func (s *Session) Register(ctx context.Context, name string, scope Scope, metadata []byte) (Binding, error) {
	resp, err := s.names.Register(ctx, &pb.NameRegisterRequest{Pid: s.pid, Name: name, Scope: scope.pb(), Metadata: metadata})
	if err != nil {
		return Binding{}, err
	}
	return bindingFromPB(resp.GetBinding()), nil
}

// Unregister removes this session's binding of name.
func (s *Session) Unregister(ctx context.Context, name string) error {
	_, err := s.names.Unregister(ctx, &pb.NameUnregisterRequest{Pid: s.pid, Name: name})
	return err
}

// Names resolves, lists and watches names.
type Names struct{ c pb.NamesClient }

// Lookup resolves name: consistent and strong names first, then eventual,
// then local. IsNotFound when nothing binds it.
func (n *Names) Lookup(ctx context.Context, name string, opts ...ReadOption) (Binding, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := n.c.Lookup(ctx, &pb.NameLookupRequest{Name: name, Mode: o.mode.pb()})
	if err != nil {
		return Binding{}, err
	}
	return bindingFromPB(resp.GetBinding()), nil
}

// List lists the bindings whose names start with prefix, in scope
// (ScopeAll for every scope), by name.
func (n *Names) List(ctx context.Context, prefix string, scope Scope, opts ...ReadOption) ([]Binding, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := n.c.List(ctx, &pb.NameListRequest{Prefix: prefix, Scope: scope.pb(), Mode: o.mode.pb()})
	if err != nil {
		return nil, err
	}
	out := make([]Binding, 0, len(resp.GetBindings()))
	for _, b := range resp.GetBindings() {
		out = append(out, bindingFromPB(b))
	}
	return out, nil
}

// NameEventKind says what a NameEvent reports.
type NameEventKind int

const (
	// NameBound: the binding is active.
	NameBound NameEventKind = 1
	// NameUnbound: the binding was removed.
	NameUnbound NameEventKind = 2
	// NameSynced: the initial bindings have all been delivered.
	NameSynced NameEventKind = 3
)

func (k NameEventKind) String() string {
	switch k {
	case NameBound:
		return "bound"
	case NameUnbound:
		return "unbound"
	case NameSynced:
		return "synced"
	}
	return fmt.Sprintf("NameEventKind(%d)", int(k))
}

// NameEvent is one message of a watch.
type NameEvent struct {
	Kind    NameEventKind
	Binding Binding
}

// Watch streams the bindings under prefix: first the current ones (as
// NameBound), then NameSynced, then every change the agent sees. The
// channel is closed when the watch ends (ctx ends, or the agent ends it);
// the function returned then gives the reason (nil after ctx ended).
func (n *Names) Watch(ctx context.Context, prefix string) (<-chan NameEvent, func() error, error) {
	stream, err := n.c.Watch(ctx, &pb.NameWatchRequest{Prefix: prefix})
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan NameEvent, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		for {
			ev, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				errc <- err
				return
			}
			select {
			case ch <- NameEvent{Kind: NameEventKind(ev.GetKind()), Binding: bindingFromPB(ev.GetBinding())}:
			case <-ctx.Done():
				errc <- nil
				return
			}
		}
	}()
	var werr error
	done := false
	return ch, func() error {
		if !done {
			werr, done = <-errc, true
		}
		return werr
	}, nil
}

// UnregisterPID removes the binding of name held by the session pid (an
// operator's tool: consistent and strong names from any agent, local and
// eventual ones only through the session's own agent).
func (n *Names) UnregisterPID(ctx context.Context, pid, name string) error {
	_, err := n.c.Unregister(ctx, &pb.NameUnregisterRequest{Pid: pid, Name: name})
	return err
}
