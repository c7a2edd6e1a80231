package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Health is a service instance's health, worst last.
type Health int

const (
	// HealthPassing: every check passes (or the instance has none).
	HealthPassing Health = 1
	// HealthWarning: a check warns (an HTTP 429, a TTL set to warning).
	HealthWarning Health = 2
	// HealthCritical: a check failed, or a TTL lapsed.
	HealthCritical Health = 3
)

func (h Health) String() string {
	switch h {
	case HealthPassing:
		return "passing"
	case HealthWarning:
		return "warning"
	case HealthCritical:
		return "critical"
	}
	return fmt.Sprintf("Health(%d)", int(h))
}

// ParseHealth reads passing, warning or critical.
func ParseHealth(s string) (Health, error) {
	for _, h := range []Health{HealthPassing, HealthWarning, HealthCritical} {
		if h.String() == s {
			return h, nil
		}
	}
	return 0, fmt.Errorf("health %q: want passing, warning or critical", s)
}

// CheckKind is how the agent decides an instance's health.
type CheckKind string

const (
	// CheckTTL: the session reports the health (Session.UpdateTTL) at
	// least every TTL; a lapse turns the instance critical.
	CheckTTL CheckKind = "ttl"
	// CheckHTTP: GET Target; 2xx passes, 429 warns, anything else fails.
	CheckHTTP CheckKind = "http"
	// CheckTCP: a TCP connect to Target passes.
	CheckTCP CheckKind = "tcp"
	// CheckGRPC: the gRPC health protocol on Target; SERVING passes.
	CheckGRPC CheckKind = "grpc"
)

var checkKindPB = map[CheckKind]pb.CheckKind{
	CheckTTL: pb.CheckKind_CHECK_KIND_TTL, CheckHTTP: pb.CheckKind_CHECK_KIND_HTTP,
	CheckTCP: pb.CheckKind_CHECK_KIND_TCP, CheckGRPC: pb.CheckKind_CHECK_KIND_GRPC,
}

// Check is one health check, run by the agent the session is open on.
type Check struct {
	Kind CheckKind
	// Target is the URL (http) or host:port (tcp, grpc); empty means the
	// instance's endpoint.
	Target            string
	Interval, Timeout time.Duration
	// TTL of a ttl check.
	TTL time.Duration
	// Consecutive results before the health changes (0 = 1).
	SuccessesBeforePassing, FailuresBeforeCritical int
}

// Registration is one instance of a service, as the application announces
// it.
type Registration struct {
	Service  string // required
	ID       string // unique within Service; empty = the session's PID
	Endpoint string // host:port, required
	Protocol string // grpc, http, https, tcp or udp; empty = tcp
	Type     string // free-form kind ("worker")
	Tags     []string
	Groups   []string
	Meta     map[string]string
	Checks   []Check
}

// Instance is a registered instance.
type Instance struct {
	Service, ID, Endpoint, Protocol, Type string
	Tags, Groups                          []string
	Meta                                  map[string]string
	// PID is the owning session, Node its node.
	PID, Node string
	Health    Health
	// Output is the last check output that changed the health.
	Output                   string
	RegisteredAt, LastSeen   time.Time
	CreateIndex, ModifyIndex uint64
}

// ServiceFilter selects instances; empty fields match everything.
type ServiceFilter struct {
	Service string
	Tag     string
	Group   string
	// PassingOnly keeps the passing instances only.
	PassingOnly bool
}

func (f ServiceFilter) pb() *pb.ServiceFilter {
	return &pb.ServiceFilter{Service: f.Service, Tag: f.Tag, Group: f.Group, PassingOnly: f.PassingOnly}
}

// ServiceSummary is one service of Registry.Services.
type ServiceSummary struct {
	Name                       string
	Passing, Warning, Critical int
	Tags                       []string // the union of its instances', sorted
}

// ServiceUpdate is one answer of Registry.Watch: every instance the
// filter selects, as of Index.
type ServiceUpdate struct {
	Instances []Instance
	Index     uint64
}

func registrationToPB(r Registration) (*pb.ServiceRegistration, error) {
	out := &pb.ServiceRegistration{Service: r.Service, Id: r.ID, Endpoint: r.Endpoint, Protocol: r.Protocol,
		Type: r.Type, Tags: r.Tags, Groups: r.Groups, Meta: r.Meta}
	for i, c := range r.Checks {
		kind, ok := checkKindPB[c.Kind]
		if !ok {
			return nil, fmt.Errorf("client: registration.checks[%d].kind: want ttl, http, tcp or grpc, got %q", i, c.Kind)
		}
		out.Checks = append(out.Checks, &pb.ServiceCheck{Kind: kind, Target: c.Target,
			Interval: durationOrNil(c.Interval), Timeout: durationOrNil(c.Timeout), Ttl: durationOrNil(c.TTL),
			SuccessesBeforePassing: uint32(max(c.SuccessesBeforePassing, 0)),
			FailuresBeforeCritical: uint32(max(c.FailuresBeforeCritical, 0))})
	}
	return out, nil
}

// durationOrNil leaves an unset duration unset (the agent's default);
// a negative one goes out for the agent to refuse, naming the field.
func durationOrNil(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func instanceFromPB(in *pb.ServiceInstance) Instance {
	return Instance{Service: in.GetService(), ID: in.GetId(), Endpoint: in.GetEndpoint(), Protocol: in.GetProtocol(),
		Type: in.GetType(), Tags: in.GetTags(), Groups: in.GetGroups(), Meta: in.GetMeta(), PID: in.GetPid(),
		Node: in.GetNode(), Health: Health(in.GetHealth()), Output: in.GetOutput(),
		RegisteredAt: timeFromPB(in.GetRegisteredAt()), LastSeen: timeFromPB(in.GetLastSeen()),
		CreateIndex: in.GetCreateIndex(), ModifyIndex: in.GetModifyIndex()}
}

func instancesFromPB(ins []*pb.ServiceInstance) []Instance {
	out := make([]Instance, 0, len(ins))
	for _, in := range ins {
		out = append(out, instanceFromPB(in))
	}
	return out
}

// RegisterService announces an instance owned by this session: it is
// removed when the session ends (or by Registry.Deregister). Registering
// the same service and ID again replaces it. The agent runs its checks;
// with none the instance is passing.
func (s *Session) RegisterService(ctx context.Context, r Registration) (Instance, error) {
	reg, err := registrationToPB(r)
	if err != nil {
		return Instance{}, err
	}
	resp, err := s.registry.Register(ctx, &pb.RegistryRegisterRequest{Pid: s.pid, Registration: reg})
	if err != nil {
		return Instance{}, err
	}
	return instanceFromPB(resp.GetInstance()), nil
}

// UpdateTTL reports the health of this session's instance id of service,
// which has a ttl check; output is shown to operators.
func (s *Session) UpdateTTL(ctx context.Context, service, id string, h Health, output string) error {
	_, err := s.registry.UpdateTTL(ctx, &pb.RegistryUpdateTTLRequest{Pid: s.pid, Service: service, Id: id,
		Health: pb.Health(h), Output: output})
	return err
}

// DeregisterService removes the instance id of service (Registry.Deregister).
func (s *Session) DeregisterService(ctx context.Context, service, id string) error {
	_, err := s.registry.Deregister(ctx, &pb.RegistryDeregisterRequest{Service: service, Id: id})
	return err
}

// Registry queries and watches the service registry; instances are
// registered through a Session (RegisterService).
type Registry struct{ c pb.RegistryClient }

// Deregister removes the instance id of service, whoever owns it
// (IsNotFound when there is none).
func (r *Registry) Deregister(ctx context.Context, service, id string) error {
	_, err := r.c.Deregister(ctx, &pb.RegistryDeregisterRequest{Service: service, Id: id})
	return err
}

// List lists the instances f selects, by service then ID, and the index
// of that answer.
func (r *Registry) List(ctx context.Context, f ServiceFilter) ([]Instance, uint64, error) {
	resp, err := r.c.List(ctx, &pb.RegistryListRequest{Filter: f.pb()})
	if err != nil {
		return nil, 0, err
	}
	return instancesFromPB(resp.GetInstances()), resp.GetIndex(), nil
}

// Services lists every service with instances, by name.
func (r *Registry) Services(ctx context.Context) ([]ServiceSummary, uint64, error) {
	resp, err := r.c.Services(ctx, &pb.RegistryServicesRequest{})
	if err != nil {
		return nil, 0, err
	}
	out := make([]ServiceSummary, 0, len(resp.GetServices()))
	for _, s := range resp.GetServices() {
		out = append(out, ServiceSummary{Name: s.GetName(), Passing: int(s.GetPassing()), Warning: int(s.GetWarning()),
			Critical: int(s.GetCritical()), Tags: s.GetTags()})
	}
	return out, resp.GetIndex(), nil
}

// Watch streams f's answer: the current one first, then a new one at each
// change. The channel keeps only the newest answer a slow reader has not
// taken (each is complete, so none is lost in meaning). It is closed when
// the watch ends (ctx ends, or the agent ends it); the function returned
// then gives the reason (nil after ctx ended).
func (r *Registry) Watch(ctx context.Context, f ServiceFilter) (<-chan ServiceUpdate, func() error, error) {
	stream, err := r.c.Watch(ctx, &pb.RegistryWatchRequest{Filter: f.pb()})
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan ServiceUpdate, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		for {
			resp, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				errc <- err
				return
			}
			u := ServiceUpdate{Instances: instancesFromPB(resp.GetInstances()), Index: resp.GetIndex()}
			// Replace an answer the reader has not taken yet.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- u:
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
