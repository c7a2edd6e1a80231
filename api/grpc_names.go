package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/naming"
)

// NameNode is what the Names service and the /v1/names endpoints need of a
// node: the methods of its name service (*naming.Service, Node.Names). All methods are called
// concurrently from request goroutines; those with a ctx honour it.
type NameNode interface {
	// Register binds name to the session pid open on the node.
	Register(ctx context.Context, pid, name string, scope naming.Scope, meta []byte) (naming.Binding, error)
	// Unregister removes pid's binding of name.
	Unregister(ctx context.Context, pid, name string) error
	// Lookup resolves name (consistent/strong, eventual, local).
	Lookup(ctx context.Context, name string, mode cluster.ReadMode) (naming.Binding, error)
	// List lists the bindings under prefix in scope (0 = all).
	List(ctx context.Context, prefix string, scope naming.Scope, mode cluster.ReadMode) ([]naming.Binding, error)
	// Watch starts a watch of the changes under prefix.
	Watch(prefix string) (*cluster.NameWatch, error)
}

// namesService implements conclave.v1.Names.
type namesService struct {
	pb.UnimplementedNamesServer
	node    NameNode
	streams *streamSet
	guard   *guard
}

func (s *namesService) Register(ctx context.Context, req *pb.NameRegisterRequest) (*pb.NameRegisterResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	scope, err := scopeFromPB(req.GetScope(), false)
	if err != nil {
		return nil, err
	}
	b, err := s.node.Register(ctx, req.GetPid(), req.GetName(), scope, req.GetMetadata())
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.NameRegisterResponse{Binding: bindingToPB(b)}, nil
}

func (s *namesService) Unregister(ctx context.Context, req *pb.NameUnregisterRequest) (*pb.NameUnregisterResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.Unregister(ctx, req.GetPid(), req.GetName()); err != nil {
		return nil, statusError(err)
	}
	return &pb.NameUnregisterResponse{}, nil
}

func (s *namesService) Lookup(ctx context.Context, req *pb.NameLookupRequest) (*pb.NameLookupResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	b, err := s.node.Lookup(ctx, req.GetName(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.NameLookupResponse{Binding: bindingToPB(b)}, nil
}

func (s *namesService) List(ctx context.Context, req *pb.NameListRequest) (*pb.NameListResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	scope, err := scopeFromPB(req.GetScope(), true)
	if err != nil {
		return nil, err
	}
	bs, err := s.node.List(ctx, req.GetPrefix(), scope, mode)
	if err != nil {
		return nil, statusError(err)
	}
	resp := &pb.NameListResponse{Bindings: make([]*pb.NameBinding, 0, len(bs))}
	for _, b := range bs {
		if !mayRead(ctx, acl.ResName, b.Name) {
			continue
		}
		resp.Bindings = append(resp.Bindings, bindingToPB(b))
	}
	return resp, nil
}

// Watch subscribes before it lists, so no change falls between the two; a
// change may therefore appear both in the listing and as an event.
func (s *namesService) Watch(req *pb.NameWatchRequest, stream pb.Names_WatchServer) error {
	if !s.streams.add() {
		return errStopping
	}
	defer s.streams.done()
	ctx := stream.Context()
	if err := s.guard.streamCheck(ctx, "Names.Watch", listing(acl.ResName, req.GetPrefix())); err != nil {
		return err
	}
	w, err := s.node.Watch(req.GetPrefix())
	if err != nil {
		return statusError(err)
	}
	defer w.Close()
	bs, err := s.node.List(ctx, req.GetPrefix(), naming.ScopeUnspecified, cluster.ReadStale)
	if err != nil {
		return statusError(err)
	}
	for _, b := range bs {
		if !mayRead(ctx, acl.ResName, b.Name) {
			continue
		}
		if err := stream.Send(&pb.NameWatchEvent{Kind: pb.NameWatchEvent_BOUND, Binding: bindingToPB(b)}); err != nil {
			return err
		}
	}
	if err := stream.Send(&pb.NameWatchEvent{Kind: pb.NameWatchEvent_SYNCED}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.streams.stopping():
			return errStopping
		case ev, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return statusError(err)
				}
				return status.Error(codes.Unavailable, "name watch ended: the node is stopping")
			}
			if !mayRead(ctx, acl.ResName, ev.Binding.Name) {
				continue
			}
			kind := pb.NameWatchEvent_BOUND
			if ev.Kind == naming.Unbound {
				kind = pb.NameWatchEvent_UNBOUND
			}
			if err := stream.Send(&pb.NameWatchEvent{Kind: kind, Binding: bindingToPB(ev.Binding)}); err != nil {
				return err
			}
		}
	}
}

func scopeFromPB(s pb.NameScope, unspecifiedOK bool) (naming.Scope, error) {
	switch s {
	case pb.NameScope_NAME_SCOPE_LOCAL:
		return naming.ScopeLocal, nil
	case pb.NameScope_NAME_SCOPE_EVENTUAL:
		return naming.ScopeEventual, nil
	case pb.NameScope_NAME_SCOPE_CONSISTENT:
		return naming.ScopeConsistent, nil
	case pb.NameScope_NAME_SCOPE_STRONG:
		return naming.ScopeStrong, nil
	case pb.NameScope_NAME_SCOPE_UNSPECIFIED:
		if unspecifiedOK {
			return naming.ScopeUnspecified, nil
		}
		return 0, invalidArgument("scope", "must be set: local, eventual, consistent or strong")
	}
	return 0, invalidArgument("scope", "unknown scope %d", int32(s))
}

func scopeToPB(s naming.Scope) pb.NameScope {
	switch s {
	case naming.ScopeLocal:
		return pb.NameScope_NAME_SCOPE_LOCAL
	case naming.ScopeEventual:
		return pb.NameScope_NAME_SCOPE_EVENTUAL
	case naming.ScopeConsistent:
		return pb.NameScope_NAME_SCOPE_CONSISTENT
	case naming.ScopeStrong:
		return pb.NameScope_NAME_SCOPE_STRONG
	}
	return pb.NameScope_NAME_SCOPE_UNSPECIFIED
}

func bindingToPB(b naming.Binding) *pb.NameBinding {
	return &pb.NameBinding{Name: b.Name, Pid: b.PID, Scope: scopeToPB(b.Scope), Metadata: b.Meta,
		Index: b.Index, RegisteredAt: timestampOrNil(b.RegisteredAt)}
}
