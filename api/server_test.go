package api

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// served is a Server running on ephemeral ports with a client connection.
type served struct {
	srv  *Server
	conn *grpc.ClientConn
	stop func() error // ends Serve gracefully and returns its result
}

func startServer(t *testing.T, node Node, opts ...Option) *served {
	t.Helper()
	return startServerWith(t, DefaultLocalConfig(), node, opts...)
}

// startServerWith is startServer with a config of the test's own; conn is
// a plain-text connection, of no use against a TLS server.
func startServerWith(t *testing.T, cfg Config, node Node, opts ...Option) *served {
	t.Helper()
	srv, err := New(cfg, node, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	var stopped bool
	var result error
	s := &served{srv: srv, conn: conn}
	s.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after its ctx ended")
			}
		}
		return result
	}
	t.Cleanup(func() {
		_ = conn.Close()
		if err := s.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func TestServeStopsGracefullyAndReleasesPorts(t *testing.T) {
	s := startServer(t, newFakeNode("n1"))
	grpcAddr, httpAddr := s.srv.GRPCAddr().String(), s.srv.HTTPAddr().String()
	if err := s.stop(); err != nil {
		t.Fatalf("Serve returned %v after ctx ended, want nil", err)
	}
	for _, addr := range []string{grpcAddr, httpAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %s still bound after Serve returned: %v", addr, err)
		}
		_ = ln.Close()
	}
	if err := s.srv.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Fatalf("second Serve = %v, want ErrServing", err)
	}
}

func TestCloseBeforeServe(t *testing.T) {
	srv, err := New(DefaultLocalConfig(), newFakeNode("n1"))
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.GRPCAddr().String()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close = %v, want ErrClosed", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("Close left %s bound: %v", addr, err)
	}
	_ = ln.Close()
}

func TestCloseEndsServe(t *testing.T) {
	srv, err := New(DefaultLocalConfig(), newFakeNode("n1"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	// Close may land before or after Serve started its servers; both must
	// end Serve.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve after Close = %v, want nil or ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestNewFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr := free.Addr().String()
	_ = free.Close()

	cfg := DefaultLocalConfig()
	cfg.GRPCAddr = grpcAddr
	cfg.HTTPAddr = ln.Addr().String()
	_, err = New(cfg, newFakeNode("n1"))
	if err == nil || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("New = %v, want an error naming http_addr", err)
	}
	// The gRPC listener, bound first, must have been released.
	again, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		t.Fatalf("failed New left grpc port %s bound: %v", grpcAddr, err)
	}
	_ = again.Close()
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.GRPCAddr = "nonsense"
	if _, err := New(cfg, newFakeNode("n1")); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
}

func TestTwoServersShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	startServer(t, newFakeNode("n1"), WithRegistry(reg))
	startServer(t, newFakeNode("n2"), WithRegistry(reg))
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Config)
		field  string // "" = valid
	}{
		"default":              {mutate: func(*Config) {}},
		"empty grpc addr":      {mutate: func(c *Config) { c.GRPCAddr = "" }, field: "grpc_addr"},
		"grpc addr no port":    {mutate: func(c *Config) { c.GRPCAddr = "127.0.0.1" }, field: "grpc_addr"},
		"http addr bad port":   {mutate: func(c *Config) { c.HTTPAddr = "127.0.0.1:99999" }, field: "http_addr"},
		"zero message size":    {mutate: func(c *Config) { c.MaxRecvMsgBytes = 0 }, field: "max_recv_msg_bytes"},
		"zero shutdown":        {mutate: func(c *Config) { c.ShutdownTimeout = 0 }, field: "shutdown_timeout"},
		"zero header deadline": {mutate: func(c *Config) { c.ReadHeaderTimeout = 0 }, field: "read_header_timeout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}
