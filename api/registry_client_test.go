package api_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// serveRegistryNode serves a one-node cluster's API with its registry and
// returns an SDK client for it.
func serveRegistryNode(t *testing.T) *client.Client {
	t.Helper()
	cl, _ := serveRegistryNodeHTTP(t)
	return cl
}

// serveRegistryNodeHTTP is serveRegistryNode, with the base URL of the
// node's HTTP API.
func serveRegistryNodeHTTP(t *testing.T) (*client.Client, string) {
	t.Helper()
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	n := c.WaitLeader(10 * time.Second)
	svcs := api.ServicesOf(n.Node)
	srv, err := api.New(api.DefaultLocalConfig(), svcs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	cl, err := client.New(srv.GRPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Close()
		cancel()
		<-done
	})
	return cl, "http://" + srv.HTTPAddr().String()
}

// backend is a real gRPC server (the standard health service) that
// counts the calls it serves.
type backend struct {
	addr  string
	calls atomic.Int64
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String()}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b.calls.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(gs, grpchealth.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return b
}

// registerBackends registers a and b as instances "a" and "b" of service
// echo, each from its own session.
func registerBackends(t *testing.T, cl *client.Client, a, b *backend) {
	t.Helper()
	for id, be := range map[string]*backend{"a": a, "b": b} {
		s, err := cl.Session(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		in, err := s.RegisterService(tctx(t), client.Registration{Service: "echo", ID: id, Endpoint: be.addr,
			Protocol: "grpc", Tags: []string{"v1"}})
		if err != nil {
			t.Fatal(err)
		}
		if in.PID != s.PID() || in.Health != client.HealthPassing || in.Endpoint != be.addr {
			t.Fatalf("registered %+v", in)
		}
	}
}

// TestResolverSpreadsAndFollows: calls through conclave:///echo with
// round_robin reach both instances; once one is deregistered, every call
// goes to the other.
func TestResolverSpreadsAndFollows(t *testing.T) {
	cl := serveRegistryNode(t)
	a, b := startBackend(t), startBackend(t)
	registerBackends(t, cl, a, b)

	conn, err := grpc.NewClient(client.ServiceTarget("echo", "v1"),
		grpc.WithResolvers(cl.Resolver()),
		grpc.WithDefaultServiceConfig(client.RoundRobin),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	call := func() {
		t.Helper()
		if _, err := hc.Check(tctx(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("call through conclave:///echo: %v", err)
		}
	}
	// round_robin picks among the READY connections: call until both
	// have served one, then measure the spread.
	deadline := time.Now().Add(10 * time.Second)
	for a.calls.Load() == 0 || b.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calls never reached both instances: a %d, b %d", a.calls.Load(), b.calls.Load())
		}
		call()
	}
	a0, b0 := a.calls.Load(), b.calls.Load()
	for range 20 {
		call()
	}
	if da, db := a.calls.Load()-a0, b.calls.Load()-b0; da < 8 || db < 8 {
		t.Fatalf("20 round-robin calls: a %d, b %d; want them spread", da, db)
	}

	deregistered := time.Now()
	if err := cl.Registry().Deregister(tctx(t), "echo", "b"); err != nil {
		t.Fatal(err)
	}
	// The resolver hears of it through its watch: soon every call goes
	// to a.
	deadline = time.Now().Add(10 * time.Second)
	var lastToB time.Time
	for streak := 0; streak < 10; {
		if time.Now().After(deadline) {
			t.Fatal("calls still reach the deregistered instance")
		}
		before := b.calls.Load()
		call()
		if b.calls.Load() == before {
			streak++
		} else {
			streak, lastToB = 0, time.Now()
		}
	}
	if lastToB.IsZero() {
		t.Logf("no call reached b after its deregistration returned")
	} else {
		t.Logf("the last call to b ended %s after its deregistration began", lastToB.Sub(deregistered).Round(time.Microsecond))
	}
	b1 := b.calls.Load()
	for range 20 {
		call()
	}
	if got := b.calls.Load() - b1; got != 0 {
		t.Fatalf("%d calls reached the deregistered instance", got)
	}
}

// TestResolverLeastRequest: grpc-go's least_request balancer (registered
// by the client package) works over the resolver.
func TestResolverLeastRequest(t *testing.T) {
	cl := serveRegistryNode(t)
	a, b := startBackend(t), startBackend(t)
	registerBackends(t, cl, a, b)
	conn, err := grpc.NewClient(client.ServiceTarget("echo", ""),
		grpc.WithResolvers(cl.Resolver()),
		grpc.WithDefaultServiceConfig(client.LeastRequest(2)),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for a.calls.Load() == 0 || b.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calls never reached both instances: a %d, b %d", a.calls.Load(), b.calls.Load())
		}
		if _, err := hc.Check(tctx(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResolverUnknownTagHasNoInstances: a target whose filter selects
// nothing fails calls Unavailable (with a deadline) rather than hanging.
func TestResolverUnknownTagHasNoInstances(t *testing.T) {
	cl := serveRegistryNode(t)
	a, b := startBackend(t), startBackend(t)
	registerBackends(t, cl, a, b)
	conn, err := grpc.NewClient(client.ServiceTarget("echo", "nope"),
		grpc.WithResolvers(cl.Resolver()),
		grpc.WithDefaultServiceConfig(client.RoundRobin),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a call to a service without instances = %v, want Unavailable", err)
	}
	if n := a.calls.Load() + b.calls.Load(); n != 0 {
		t.Fatalf("%d calls reached instances without the tag", n)
	}
}

// TestPicker: round robin alternates, least-in-flight avoids the busy
// instance, and a deregistered instance is no longer picked.
func TestPicker(t *testing.T) {
	cl := serveRegistryNode(t)
	a, b := startBackend(t), startBackend(t)
	registerBackends(t, cl, a, b)

	rr := cl.Picker("echo", client.PickTag("v1"))
	defer rr.Close()
	seen := map[string]int{}
	for range 10 {
		in, done, err := rr.Pick(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		seen[in.ID]++
		done()
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("round robin picks = %v, want 5 each", seen)
	}

	lif := cl.Picker("echo", client.PickBalance(client.BalanceLeastInFlight))
	defer lif.Close()
	first, doneFirst, err := lif.Pick(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	// While first is busy, the other instance gets every pick.
	for range 3 {
		in, done, err := lif.Pick(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if in.ID == first.ID {
			t.Fatalf("least-in-flight picked the busy %s", in.ID)
		}
		done()
		done() // harmless
	}
	if got := lif.InFlight(first.ID); got != 1 {
		t.Fatalf("in flight on %s = %d, want 1", first.ID, got)
	}
	doneFirst()
	if got := lif.InFlight(first.ID); got != 0 {
		t.Fatalf("in flight on %s after done = %d, want 0", first.ID, got)
	}

	if err := cl.Registry().Deregister(tctx(t), "echo", "b"); err != nil {
		t.Fatal(err)
	}
	api.WaitFor(t, 10*time.Second, func() bool { return len(rr.Instances()) == 1 })
	for range 4 {
		in, done, err := rr.Pick(tctx(t))
		if err != nil || in.ID != "a" {
			t.Fatalf("pick after deregistering b = %+v, %v", in, err)
		}
		done()
	}

	none := cl.Picker("nothing")
	defer none.Close()
	if _, _, err := none.Pick(tctx(t)); !client.IsUnavailable(err) {
		t.Fatalf("pick of a service without instances = %v, want Unavailable", err)
	}
}
