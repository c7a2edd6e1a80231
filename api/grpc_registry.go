package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/registry"
)

// RegistryNode is what the Registry service, the /v1/services endpoints,
// /v1/sd/prometheus?service= and the status page need of a node: the
// methods of its service registry (*registry.Service, Node.Registry). All
// methods are called concurrently from request goroutines; those with a
// ctx honour it. Errors wrap internal/wire's sentinels (invalid, not found,
// no session, mismatch, unavailable), which statusError maps to codes.
type RegistryNode interface {
	// Register announces r, owned by the session pid open on the node.
	Register(ctx context.Context, pid string, r registry.Registration) (registry.Instance, error)
	// Deregister removes the instance id of service.
	Deregister(ctx context.Context, service, id string) error
	// UpdateTTL reports the health of pid's instance with a ttl check.
	UpdateTTL(ctx context.Context, pid, service, id string, h registry.Health, output string) error
	// Instances lists what f selects, and the index of that answer.
	Instances(f registry.Filter) ([]registry.Instance, uint64)
	// Services summarises every service, and the registry's index.
	Services() ([]registry.ServiceSummary, uint64)
	// Wait returns f's answer once its index passes index; when ctx ends
	// first, the current answer and ctx's error.
	Wait(ctx context.Context, f registry.Filter, index uint64) ([]registry.Instance, uint64, error)
}

// registryService implements conclave.v1.Registry.
type registryService struct {
	pb.UnimplementedRegistryServer
	node    RegistryNode
	streams *streamSet
	guard   *guard
}

func (s *registryService) Register(ctx context.Context, req *pb.RegistryRegisterRequest) (*pb.RegistryRegisterResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if req.GetRegistration() == nil {
		return nil, invalidArgument("registration", "must be set")
	}
	r, err := registrationFromPB(req.GetRegistration())
	if err != nil {
		return nil, err
	}
	in, err := s.node.Register(ctx, req.GetPid(), r)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.RegistryRegisterResponse{Instance: instanceToPB(in)}, nil
}

func (s *registryService) Deregister(ctx context.Context, req *pb.RegistryDeregisterRequest) (*pb.RegistryDeregisterResponse, error) {
	if req.GetService() == "" {
		return nil, invalidArgument("service", "must not be empty")
	}
	if req.GetId() == "" {
		return nil, invalidArgument("id", "must not be empty")
	}
	if err := s.node.Deregister(ctx, req.GetService(), req.GetId()); err != nil {
		return nil, statusError(err)
	}
	return &pb.RegistryDeregisterResponse{}, nil
}

func (s *registryService) UpdateTTL(ctx context.Context, req *pb.RegistryUpdateTTLRequest) (*pb.RegistryUpdateTTLResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	h, err := healthFromPB(req.GetHealth())
	if err != nil {
		return nil, err
	}
	if err := s.node.UpdateTTL(ctx, req.GetPid(), req.GetService(), req.GetId(), h, req.GetOutput()); err != nil {
		return nil, statusError(err)
	}
	return &pb.RegistryUpdateTTLResponse{}, nil
}

func (s *registryService) List(ctx context.Context, req *pb.RegistryListRequest) (*pb.RegistryListResponse, error) {
	f := filterFromPB(req.GetFilter())
	insts, index := s.node.Instances(f)
	return &pb.RegistryListResponse{Instances: instancesToPB(ctx, insts), Index: index}, nil
}

func (s *registryService) Services(ctx context.Context, _ *pb.RegistryServicesRequest) (*pb.RegistryServicesResponse, error) {
	sums, index := s.node.Services()
	resp := &pb.RegistryServicesResponse{Services: make([]*pb.ServiceSummary, 0, len(sums)), Index: index}
	for _, sum := range sums {
		if !mayRead(ctx, acl.ResService, sum.Name) {
			continue
		}
		resp.Services = append(resp.Services, &pb.ServiceSummary{Name: sum.Name, Passing: uint32(sum.Passing),
			Warning: uint32(sum.Warning), Critical: uint32(sum.Critical), Tags: sum.Tags})
	}
	return resp, nil
}

// Watch sends the filter's answer, then waits past its index for the next
// one, until the caller goes or the server stops.
func (s *registryService) Watch(req *pb.RegistryWatchRequest, stream pb.Registry_WatchServer) error {
	if !s.streams.add() {
		return errStopping
	}
	defer s.streams.done()
	f := filterFromPB(req.GetFilter())
	if err := s.guard.streamCheck(stream.Context(), "Registry.Watch", serviceReadNeeds(f.Service)); err != nil {
		return err
	}
	// ctx also ends when the server starts to stop, so Wait returns. The
	// goroutine that ends it is the handler's: it ends with ctx, and the
	// handler waits for it.
	ctx, cancel := context.WithCancel(stream.Context())
	stopped := make(chan struct{})
	defer func() {
		cancel()
		<-stopped
	}()
	go func() {
		defer close(stopped)
		select {
		case <-s.streams.stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	insts, index := s.node.Instances(f)
	for {
		if err := stream.Send(&pb.RegistryWatchResponse{Instances: instancesToPB(ctx, insts), Index: index}); err != nil {
			return err
		}
		var err error
		insts, index, err = s.waitPast(ctx, f, index)
		if err != nil {
			return err
		}
	}
}

// waitPast is Wait with the watch's end reasons mapped: the caller gone
// (its ctx's error), the server stopping (Unavailable), the node's own
// error.
func (s *registryService) waitPast(ctx context.Context, f registry.Filter, index uint64) ([]registry.Instance, uint64, error) {
	insts, next, err := s.node.Wait(ctx, f, index)
	select {
	case <-s.streams.stopping():
		return nil, 0, errStopping
	default:
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, 0, status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return nil, 0, statusError(err)
	}
	return insts, next, nil
}

// serviceReadNeeds is what reading instances needs: read on the service
// when the filter names one, a listing of services otherwise (the answer
// then keeps only the services the token may read).
func serviceReadNeeds(service string) []need {
	if service != "" {
		return needs(acl.ResService, service, acl.Read)
	}
	return listing(acl.ResService, "")
}

// instancesToPB converts the instances the caller may read.
func instancesToPB(ctx context.Context, insts []registry.Instance) []*pb.ServiceInstance {
	out := make([]*pb.ServiceInstance, 0, len(insts))
	for _, in := range insts {
		if !mayRead(ctx, acl.ResService, in.Service) {
			continue
		}
		out = append(out, instanceToPB(in))
	}
	return out
}

func instanceToPB(in registry.Instance) *pb.ServiceInstance {
	return &pb.ServiceInstance{
		Service: in.Service, Id: in.ID, Endpoint: in.Endpoint, Protocol: in.Protocol, Type: in.Type,
		Tags: in.Tags, Groups: in.Groups, Meta: in.Meta, Pid: in.PID, Node: in.Node,
		Health: pb.Health(in.Health), Output: in.Output,
		RegisteredAt: timestampOrNil(in.RegisteredAt), LastSeen: timestampOrNil(in.LastSeen),
		CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex,
	}
}

func filterFromPB(f *pb.ServiceFilter) registry.Filter {
	return registry.Filter{Service: f.GetService(), Tag: f.GetTag(), Group: f.GetGroup(), PassingOnly: f.GetPassingOnly()}
}

func healthFromPB(h pb.Health) (registry.Health, error) {
	switch h {
	case pb.Health_HEALTH_PASSING, pb.Health_HEALTH_WARNING, pb.Health_HEALTH_CRITICAL:
		return registry.Health(h), nil
	case pb.Health_HEALTH_UNSPECIFIED:
		return 0, invalidArgument("health", "must be set: passing, warning or critical")
	}
	return 0, invalidArgument("health", "unknown health %d", int32(h))
}

var checkKinds = map[pb.CheckKind]registry.CheckKind{
	pb.CheckKind_CHECK_KIND_TTL:  registry.CheckTTL,
	pb.CheckKind_CHECK_KIND_HTTP: registry.CheckHTTP,
	pb.CheckKind_CHECK_KIND_TCP:  registry.CheckTCP,
	pb.CheckKind_CHECK_KIND_GRPC: registry.CheckGRPC,
}

// registrationFromPB converts a registration; the node validates the
// values, this only what it cannot see (a check without a kind).
func registrationFromPB(r *pb.ServiceRegistration) (registry.Registration, error) {
	out := registry.Registration{
		Service: r.GetService(), ID: r.GetId(), Endpoint: r.GetEndpoint(), Protocol: r.GetProtocol(),
		Type: r.GetType(), Tags: r.GetTags(), Groups: r.GetGroups(), Meta: r.GetMeta(),
	}
	for i, c := range r.GetChecks() {
		kind, ok := checkKinds[c.GetKind()]
		if !ok {
			return registry.Registration{}, invalidArgument(fmt.Sprintf("registration.checks[%d].kind", i),
				"want ttl, http, tcp or grpc, got %s", c.GetKind())
		}
		out.Checks = append(out.Checks, registry.Check{
			Kind: kind, Target: c.GetTarget(),
			Interval: durationOf(c.GetInterval()), Timeout: durationOf(c.GetTimeout()), TTL: durationOf(c.GetTtl()),
			SuccessesBeforePassing: int(c.GetSuccessesBeforePassing()), FailuresBeforeCritical: int(c.GetFailuresBeforeCritical()),
		})
	}
	return out, nil
}

// durationOf is a proto duration, 0 when absent.
func durationOf(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}
