package registry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func probe(t *testing.T, c Check, endpoint string) (Health, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return newNetProber().Probe(ctx, c, endpoint)
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestProbeHTTP(t *testing.T) {
	var status atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(int(status.Load()))
			_, _ = w.Write([]byte("body"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c := Check{Kind: CheckHTTP, Target: srv.URL + "/health"}
	for _, tc := range []struct {
		status int
		want   Health
	}{{200, Passing}, {204, Passing}, {429, Warning}, {500, Critical}, {503, Critical}} {
		status.Store(int64(tc.status))
		if h, out := probe(t, c, ""); h != tc.want || !strings.Contains(out, http.StatusText(tc.status)) {
			t.Errorf("HTTP %d: %v %q, want %v", tc.status, h, out, tc.want)
		}
	}
	// The default target is http://ENDPOINT/ (a 404 here).
	if h, out := probe(t, Check{Kind: CheckHTTP}, strings.TrimPrefix(srv.URL, "http://")); h != Critical || !strings.Contains(out, "404") {
		t.Errorf("default target: %v %q", h, out)
	}
	if h, _ := probe(t, Check{Kind: CheckHTTP}, closedAddr(t)); h != Critical {
		t.Errorf("nothing listening: %v", h)
	}
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	if h, out := probe(t, Check{Kind: CheckTCP}, l.Addr().String()); h != Passing {
		t.Errorf("listening: %v %q", h, out)
	}
	if h, _ := probe(t, Check{Kind: CheckTCP, Target: closedAddr(t)}, l.Addr().String()); h != Critical {
		t.Errorf("target with nothing listening: %v", h)
	}
}

func TestProbeGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	defer func() {
		srv.Stop()
		<-done
	}()
	addr := l.Addr().String()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if h, out := probe(t, Check{Kind: CheckGRPC}, addr); h != Passing || !strings.Contains(out, "SERVING") {
		t.Errorf("serving: %v %q", h, out)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if h, out := probe(t, Check{Kind: CheckGRPC}, addr); h != Critical || !strings.Contains(out, "NOT_SERVING") {
		t.Errorf("not serving: %v %q", h, out)
	}
	if h, _ := probe(t, Check{Kind: CheckGRPC, Target: closedAddr(t)}, addr); h != Critical {
		t.Errorf("nothing listening: %v", h)
	}
}
