package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/registry"
)

func startRegistry(t *testing.T) (*fakeRegistry, *served, pb.RegistryClient) {
	t.Helper()
	reg := newFakeRegistry()
	svcs := newFakeNode("n1").services()
	svcs.Registry = reg
	s := startServer(t, svcs)
	return reg, s, pb.NewRegistryClient(s.conn)
}

func TestRegistryRegisterListDeregister(t *testing.T) {
	_, _, rc := startRegistry(t)
	ctx := testCtx(t)
	resp, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
		Service: "api", Endpoint: "127.0.0.1:9000", Protocol: "grpc", Tags: []string{"v2"}, Meta: map[string]string{"zone": "a"},
		Checks: []*pb.ServiceCheck{{Kind: pb.CheckKind_CHECK_KIND_TCP, Interval: durationpb.New(time.Second)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := resp.GetInstance()
	if in.GetId() != "n1/s1" || in.GetPid() != "n1/s1" || in.GetHealth() != pb.Health_HEALTH_PASSING ||
		in.GetMeta()["zone"] != "a" || in.GetCreateIndex() == 0 || in.GetRegisteredAt() == nil {
		t.Fatalf("registered %v", in)
	}
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s2", Registration: &pb.ServiceRegistration{
		Service: "api", Id: "b", Endpoint: "127.0.0.1:9001", Tags: []string{"v1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s2", Registration: &pb.ServiceRegistration{
		Service: "db", Endpoint: "127.0.0.1:5432"}}); err != nil {
		t.Fatal(err)
	}

	list, err := rc.List(ctx, &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "api"}})
	if err != nil || len(list.GetInstances()) != 2 || list.GetIndex() == 0 {
		t.Fatalf("list api = %v, %v", list, err)
	}
	list, err = rc.List(ctx, &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "api", Tag: "v2"}})
	if err != nil || len(list.GetInstances()) != 1 || list.GetInstances()[0].GetEndpoint() != "127.0.0.1:9000" {
		t.Fatalf("list api tag v2 = %v, %v", list, err)
	}
	list, err = rc.List(ctx, &pb.RegistryListRequest{})
	if err != nil || len(list.GetInstances()) != 3 {
		t.Fatalf("list all = %v, %v", list, err)
	}
	sums, err := rc.Services(ctx, &pb.RegistryServicesRequest{})
	if err != nil || len(sums.GetServices()) != 2 || sums.GetServices()[0].GetName() != "api" ||
		sums.GetServices()[0].GetPassing() != 2 || strings.Join(sums.GetServices()[0].GetTags(), ",") != "v1,v2" {
		t.Fatalf("services = %v, %v", sums, err)
	}

	if _, err := rc.Deregister(ctx, &pb.RegistryDeregisterRequest{Service: "api", Id: "b"}); err != nil {
		t.Fatal(err)
	}
	_, err = rc.Deregister(ctx, &pb.RegistryDeregisterRequest{Service: "api", Id: "b"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("second deregister = %v, want NotFound", err)
	}
	list, err = rc.List(ctx, &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "api"}})
	if err != nil || len(list.GetInstances()) != 1 {
		t.Fatalf("list after deregister = %v, %v", list, err)
	}
}

func TestRegistryUpdateTTL(t *testing.T) {
	_, _, rc := startRegistry(t)
	ctx := testCtx(t)
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
		Service: "w", Id: "1", Endpoint: "127.0.0.1:1",
		Checks: []*pb.ServiceCheck{{Kind: pb.CheckKind_CHECK_KIND_TTL, Ttl: durationpb.New(time.Second)}},
	}}); err != nil {
		t.Fatal(err)
	}
	passing, err := rc.List(ctx, &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "w", PassingOnly: true}})
	if err != nil || len(passing.GetInstances()) != 0 {
		t.Fatalf("passing before the first update = %v, %v", passing, err)
	}
	if _, err := rc.UpdateTTL(ctx, &pb.RegistryUpdateTTLRequest{Pid: "n1/s1", Service: "w", Id: "1",
		Health: pb.Health_HEALTH_PASSING, Output: "ok"}); err != nil {
		t.Fatal(err)
	}
	passing, err = rc.List(ctx, &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "w", PassingOnly: true}})
	if err != nil || len(passing.GetInstances()) != 1 || passing.GetInstances()[0].GetOutput() != "ok" {
		t.Fatalf("passing after the update = %v, %v", passing, err)
	}
	_, err = rc.UpdateTTL(ctx, &pb.RegistryUpdateTTLRequest{Pid: "n1/s2", Service: "w", Id: "1", Health: pb.Health_HEALTH_WARNING})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("update by another session = %v, want FailedPrecondition", err)
	}
}

// TestRegistryBadInput: a request the handler can judge is refused before
// the node hears of it, naming the field; the node's own refusals keep
// their codes.
func TestRegistryBadInput(t *testing.T) {
	reg, _, rc := startRegistry(t)
	ctx := testCtx(t)
	tests := map[string]struct {
		call  func() error
		field string
	}{
		"register without pid": {func() error {
			_, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Registration: &pb.ServiceRegistration{Service: "a"}})
			return err
		}, "pid"},
		"register without registration": {func() error {
			_, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1"})
			return err
		}, "registration"},
		"check without kind": {func() error {
			_, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
				Service: "a", Checks: []*pb.ServiceCheck{{Kind: pb.CheckKind_CHECK_KIND_TCP}, {Target: "x"}}}})
			return err
		}, "registration.checks[1].kind"},
		"unknown check kind": {func() error {
			_, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
				Service: "a", Checks: []*pb.ServiceCheck{{Kind: pb.CheckKind(42)}}}})
			return err
		}, "registration.checks[0].kind"},
		"deregister without service": {func() error {
			_, err := rc.Deregister(ctx, &pb.RegistryDeregisterRequest{Id: "x"})
			return err
		}, "service"},
		"deregister without id": {func() error {
			_, err := rc.Deregister(ctx, &pb.RegistryDeregisterRequest{Service: "x"})
			return err
		}, "id"},
		"ttl without pid": {func() error {
			_, err := rc.UpdateTTL(ctx, &pb.RegistryUpdateTTLRequest{Service: "a", Id: "x", Health: pb.Health_HEALTH_PASSING})
			return err
		}, "pid"},
		"ttl without health": {func() error {
			_, err := rc.UpdateTTL(ctx, &pb.RegistryUpdateTTLRequest{Pid: "n1/s1", Service: "a", Id: "x"})
			return err
		}, "health"},
		"ttl with unknown health": {func() error {
			_, err := rc.UpdateTTL(ctx, &pb.RegistryUpdateTTLRequest{Pid: "n1/s1", Service: "a", Id: "x", Health: pb.Health(7)})
			return err
		}, "health"},
	}
	for name, tc := range tests {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field+":") {
			t.Errorf("%s: %v, want InvalidArgument naming %s", name, err, tc.field)
		}
	}
	if n := reg.callCount(); n != 0 {
		t.Errorf("the node was called %d times for requests the handler refuses", n)
	}

	// The node's refusals: a session not open here, a bad value.
	_, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n9/zz", Registration: &pb.ServiceRegistration{Service: "a"}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "n9/zz") {
		t.Errorf("register for an unknown session = %v, want FailedPrecondition naming it", err)
	}
	_, err = rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{Endpoint: "x:1"}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "service") {
		t.Errorf("register without service = %v, want InvalidArgument naming service", err)
	}
}

// TestRegistryWatch: the first message is the answer as it is, then one
// message per change with a greater index; the stream ends Unavailable
// when the server stops.
func TestRegistryWatch(t *testing.T) {
	reg, s, rc := startRegistry(t)
	ctx := testCtx(t)
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
		Service: "api", Id: "a", Endpoint: "127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	stream, err := rc.Watch(ctx, &pb.RegistryWatchRequest{Filter: &pb.ServiceFilter{Service: "api"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || len(first.GetInstances()) != 1 || first.GetIndex() == 0 {
		t.Fatalf("first = %v, %v", first, err)
	}
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s2", Registration: &pb.ServiceRegistration{
		Service: "api", Id: "b", Endpoint: "127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	second, err := stream.Recv()
	if err != nil || len(second.GetInstances()) != 2 || second.GetIndex() <= first.GetIndex() {
		t.Fatalf("second = %v, %v (first at %d)", second, err, first.GetIndex())
	}
	if _, err := rc.Deregister(ctx, &pb.RegistryDeregisterRequest{Service: "api", Id: "a"}); err != nil {
		t.Fatal(err)
	}
	third, err := stream.Recv()
	if err != nil || len(third.GetInstances()) != 1 || third.GetInstances()[0].GetId() != "b" || third.GetIndex() <= second.GetIndex() {
		t.Fatalf("third = %v, %v", third, err)
	}
	waitFor(t, 5*time.Second, func() bool { return reg.waiting() == 1 })
	if err := s.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after stop: %v, want Unavailable", err)
	}
	if n := reg.waiting(); n != 0 {
		t.Fatalf("%d Waits still blocked after the server stopped", n)
	}
}

func TestRESTServices(t *testing.T) {
	reg, s, rc := startRegistry(t)
	ctx := testCtx(t)
	base := "http://" + s.srv.HTTPAddr().String()
	for i, tags := range [][]string{{"v1"}, {"v2", "canary"}} {
		if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
			Service: "api", Id: fmt.Sprint(i), Endpoint: fmt.Sprintf("127.0.0.1:%d", 9000+i), Protocol: "http", Tags: tags,
			Groups: []string{"g"}, Meta: map[string]string{"rack-id": "r1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s2", Registration: &pb.ServiceRegistration{
		Service: "api", Id: "ttl", Endpoint: "127.0.0.1:9100",
		Checks: []*pb.ServiceCheck{{Kind: pb.CheckKind_CHECK_KIND_TTL, Ttl: durationpb.New(time.Second)}}}}); err != nil {
		t.Fatal(err)
	}

	var sums struct {
		Services []serviceSummaryJSON `json:"services"`
		Index    uint64               `json:"index"`
	}
	if code, body := do(t, "GET", base+"/v1/services", "", &sums); code != 200 || len(sums.Services) != 1 ||
		sums.Services[0].Passing != 2 || sums.Services[0].Critical != 1 || sums.Index == 0 {
		t.Fatalf("GET /v1/services: %d %s", code, body)
	}

	type answer struct {
		Service   string         `json:"service"`
		Instances []instanceJSON `json:"instances"`
		Index     uint64         `json:"index"`
	}
	var all answer
	code, body := do(t, "GET", base+"/v1/services/api", "", &all)
	if code != 200 || len(all.Instances) != 3 || all.Index == 0 {
		t.Fatalf("GET /v1/services/api: %d %s", code, body)
	}
	if in := all.Instances[0]; in.Health != "passing" || in.Protocol != "http" || in.Meta["rack-id"] != "r1" || in.RegisteredAt == nil {
		t.Errorf("instance 0 = %+v", in)
	}
	if !strings.Contains(body, `"health": "critical"`) || !strings.Contains(body, `"registered_at": "2026-12-03T12:00:00Z"`) {
		t.Errorf("body lacks a critical health or an RFC 3339 time: %s", body)
	}
	var passing answer
	if code, body := do(t, "GET", base+"/v1/services/api?passing=1&tag=canary&group=g", "", &passing); code != 200 ||
		len(passing.Instances) != 1 || passing.Instances[0].ID != "1" {
		t.Fatalf("passing canary: %d %s", code, body)
	}
	var none answer
	if code, body := do(t, "GET", base+"/v1/services/nothing", "", &none); code != 200 || len(none.Instances) != 0 ||
		!strings.Contains(body, `"instances": []`) {
		t.Fatalf("unknown service: %d %s, want an empty list", code, body)
	}

	for q, field := range map[string]string{"passing=yes": "passing", "index=x": "index", "index=1&wait=soon": "wait", "index=1&wait=-1s": "wait"} {
		code, body := do(t, "GET", base+"/v1/services/api?"+q, "", nil)
		if c, msg := restErr(t, body); code != http.StatusBadRequest || c != "InvalidArgument" || !strings.HasPrefix(msg, field+":") {
			t.Errorf("?%s: %d %s, want 400 naming %s", q, code, body, field)
		}
	}

	// Prometheus SD: the passing instances, with __meta labels.
	var groups []sdTargetGroup
	if code, body := do(t, "GET", base+"/v1/sd/prometheus?service=api", "", &groups); code != 200 || len(groups) != 2 {
		t.Fatalf("sd: %d %s", code, body)
	}
	g := groups[1]
	if g.Targets[0] != "127.0.0.1:9001" || g.Labels["__meta_conclave_service"] != "api" || g.Labels["__meta_conclave_id"] != "1" ||
		g.Labels["__meta_conclave_node"] != "n1" || g.Labels["__meta_conclave_protocol"] != "http" ||
		g.Labels["__meta_conclave_tags"] != ",v2,canary," || g.Labels["__meta_conclave_meta_rack_id"] != "r1" {
		t.Errorf("sd group = %+v", g)
	}
	if code, body := do(t, "GET", base+"/v1/sd/prometheus?service=", "", nil); code != http.StatusBadRequest {
		t.Errorf("sd with an empty service: %d %s, want 400", code, body)
	}
	// Without ?service the agents' own SD answers, as before.
	var agents []sdTargetGroup
	if code, body := do(t, "GET", base+"/v1/sd/prometheus", "", &agents); code != 200 {
		t.Errorf("agents sd: %d %s", code, body)
	}
	_ = reg
}

// TestRESTServiceBlockingQuery: ?index=N answers when the service changes
// past N, or after ?wait with the answer as it was.
func TestRESTServiceBlockingQuery(t *testing.T) {
	reg, s, rc := startRegistry(t)
	ctx := testCtx(t)
	base := "http://" + s.srv.HTTPAddr().String()
	type answer struct {
		Instances []instanceJSON `json:"instances"`
		Index     uint64         `json:"index"`
	}
	var a answer
	if code, body := do(t, "GET", base+"/v1/services/api", "", &a); code != 200 {
		t.Fatalf("%d %s", code, body)
	}

	// Nothing changes: the wait passes and the answer keeps its index.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/services/api?index=%d&wait=50ms", base, a.Index), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Conclave-Index") != fmt.Sprint(a.Index) {
		t.Fatalf("idle blocking query: %d, index %q, want 200 and %d", resp.StatusCode, resp.Header.Get("X-Conclave-Index"), a.Index)
	}

	type result struct {
		code int
		body string
		a    answer
	}
	done := make(chan result, 1)
	go func() {
		var b answer
		code, body := do(t, "GET", fmt.Sprintf("%s/v1/services/api?index=%d&wait=20s", base, a.Index), "", &b)
		done <- result{code, body, b}
	}()
	waitFor(t, 5*time.Second, func() bool { return reg.waiting() == 1 })
	if _, err := rc.Register(ctx, &pb.RegistryRegisterRequest{Pid: "n1/s1", Registration: &pb.ServiceRegistration{
		Service: "api", Id: "a", Endpoint: "127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != 200 || len(r.a.Instances) != 1 || r.a.Index <= a.Index {
			t.Fatalf("blocking query after a change: %d %s", r.code, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking query did not answer after the change")
	}
}

func TestRegistryInstanceHealthNames(t *testing.T) {
	for h, want := range map[registry.Health]string{registry.Passing: "passing", registry.Warning: "warning", registry.Critical: "critical"} {
		if got := toInstanceJSON(registry.Instance{Health: h}).Health; got != want {
			t.Errorf("%d: %q, want %q", h, got, want)
		}
		if got := instanceToPB(registry.Instance{Health: h}).GetHealth(); int(got) != int(h) {
			t.Errorf("%d: pb %v", h, got)
		}
	}
}
