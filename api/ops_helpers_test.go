package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// opsCluster is an in-process cluster whose nodes each have their own
// Prometheus registry, for serving the real API over them.
type opsCluster struct {
	*testcluster.Cluster
	regs []*prometheus.Registry
	// grpc and http are node i's API addresses, bound before it starts
	// so its gossip meta advertises where it really serves; grpcLn and
	// httpLn hold them until serve hands them to the API server.
	grpc, http     []string
	grpcLn, httpLn []net.Listener
}

func newOpsCluster(t *testing.T, n int) *opsCluster {
	t.Helper()
	oc := &opsCluster{}
	for i := 0; i < n; i++ {
		oc.regs = append(oc.regs, prometheus.NewRegistry())
		g, h := listen(t), listen(t)
		oc.grpcLn, oc.httpLn = append(oc.grpcLn, g), append(oc.httpLn, h)
		oc.grpc, oc.http = append(oc.grpc, g.Addr().String()), append(oc.http, h.Addr().String())
	}
	oc.Cluster = testcluster.New(t, n, testcluster.Options{
		Configure: func(i int, cfg *config.Config) {
			cfg.API.GRPCAddr, cfg.API.HTTPAddr = oc.grpc[i], oc.http[i]
		},
		NodeOptions: func(i int) []cluster.Option {
			// A restart gets a fresh registry (a registry takes a metric
			// once); serve() reads the current one.
			oc.regs[i] = prometheus.NewRegistry()
			return []cluster.Option{cluster.WithRegisterer(oc.regs[i])}
		},
	})
	return oc
}

// serve runs the real API server over node n, on the listeners bound for it
// in newOpsCluster, until the test ends (or the returned stop is called)
// and returns its HTTP base URL and gRPC address. A node is served once.
func (oc *opsCluster) serve(t *testing.T, n *testcluster.Node) (httpBase, grpcAddr string, stop func()) {
	t.Helper()
	i := n.Index()
	if oc.grpcLn[i] == nil {
		t.Fatalf("%s: served twice; its listeners went to the first server", n.Name)
	}
	cfg := api.DefaultLocalConfig()
	cfg.GRPCAddr, cfg.HTTPAddr = oc.grpc[i], oc.http[i]
	lns := api.WithListeners(oc.grpcLn[i], oc.httpLn[i])
	oc.grpcLn[i], oc.httpLn[i] = nil, nil
	srv, err := api.New(cfg, api.ServicesOf(n.Node), api.WithRegistry(oc.regs[i]), lns)
	if err != nil {
		t.Fatalf("api.New for %s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve %s: %v", n.Name, err)
		}
	}
	t.Cleanup(stop)
	return "http://" + srv.HTTPAddr().String(), srv.GRPCAddr().String(), stop
}

// listen binds an ephemeral port on 127.0.0.1 and closes it at the end of
// the test unless an API server took it over (a second Close is harmless).
// Bound, not probed: a port found free and bound later by the server could
// be taken in between by another process, such as a second test run.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get fetches url and returns the status code and body; a transport error
// is status 0.
func get(url string) (int, string) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
