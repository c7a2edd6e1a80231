package registry

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Prober runs one active check (http, tcp, grpc) against an instance.
// Called concurrently from the checks' goroutines; it blocks at most until
// ctx ends (the check's timeout).
type Prober interface {
	// Probe returns the check's result (Passing, Warning or Critical) and
	// a short output saying why, for operators.
	Probe(ctx context.Context, c Check, endpoint string) (Health, string)
}

// netProber runs the checks over the network: an HTTP GET, a TCP
// connect, the gRPC health protocol.
type netProber struct{ http *http.Client }

// newNetProber's HTTP client keeps no connection pool: a check every
// interval must not hold a connection (and its goroutines) open to every
// instance. It follows no proxy from the environment.
func newNetProber() netProber {
	return netProber{http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (p netProber) Probe(ctx context.Context, c Check, endpoint string) (Health, string) {
	switch c.Kind {
	case CheckHTTP:
		return probeHTTP(ctx, p.http, c, endpoint)
	case CheckTCP:
		target := targetOr(c, endpoint)
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return Critical, fmt.Sprintf("TCP connect %s: %v", target, err)
		}
		_ = conn.Close()
		return Passing, fmt.Sprintf("TCP connect %s: success", target)
	case CheckGRPC:
		return probeGRPC(ctx, targetOr(c, endpoint))
	}
	return Critical, fmt.Sprintf("check kind %q is not probed", c.Kind)
}

func targetOr(c Check, endpoint string) string {
	if c.Target != "" {
		return c.Target
	}
	return endpoint
}

func probeHTTP(ctx context.Context, client *http.Client, c Check, endpoint string) (Health, string) {
	url := c.Target
	if url == "" {
		url = "http://" + endpoint + "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Critical, fmt.Sprintf("HTTP GET %s: %v", url, err)
	}
	req.Header.Set("User-Agent", "conclave-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return Critical, fmt.Sprintf("HTTP GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_ = resp.Body.Close()
	out := fmt.Sprintf("HTTP GET %s: %s: %s", url, resp.Status, body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Passing, out
	case resp.StatusCode == http.StatusTooManyRequests:
		return Warning, out
	}
	return Critical, out
}

func probeGRPC(ctx context.Context, target string) (Health, string) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return Critical, fmt.Sprintf("gRPC health %s: %v", target, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return Critical, fmt.Sprintf("gRPC health %s: %v", target, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Critical, fmt.Sprintf("gRPC health %s: %s", target, resp.GetStatus())
	}
	return Passing, fmt.Sprintf("gRPC health %s: SERVING", target)
}
