package client

import (
	"net/url"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
)

// TestServiceTargetRoundTrip: whatever a service name and a tag hold (the
// name rules allow '/', '%', '?', spaces), the resolver reads back what
// ServiceTarget wrote.
func TestServiceTargetRoundTrip(t *testing.T) {
	for _, tc := range []struct{ service, tag string }{
		{"echo", ""}, {"jobs/worker", "v1"}, {"a b%20c?d#e", "x&y=z"}, {"ünïcode", "é"},
	} {
		target := ServiceTarget(tc.service, tc.tag)
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		rt := resolver.Target{URL: *u}
		if u.Scheme != ResolverScheme || rt.Endpoint() != tc.service || u.Query().Get("tag") != tc.tag {
			t.Errorf("%q reads back as scheme %q, service %q, tag %q; want %q, %q", target, u.Scheme, rt.Endpoint(),
				u.Query().Get("tag"), tc.service, tc.tag)
		}
	}
}

// TestBalancerConfigsParse: grpc accepts every service config the package
// offers (an unknown balancer or bad JSON fails NewClient).
func TestBalancerConfigsParse(t *testing.T) {
	for _, cfg := range []string{RoundRobin, LeastRequestDefault, LeastRequest(3)} {
		conn, err := grpc.NewClient("passthrough:///127.0.0.1:1", grpc.WithDefaultServiceConfig(cfg),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Errorf("%s: %v", cfg, err)
			continue
		}
		_ = conn.Close()
	}
	conn, err := grpc.NewClient("passthrough:///127.0.0.1:1", grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"no_such_balancer":{}}]}`),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		_ = conn.Close()
		t.Fatal("an unknown balancer was accepted: the test cannot tell a good config from a bad one")
	}
}

// TestStateOfDedups: one endpoint per distinct address, in order, none
// for an empty one.
func TestStateOfDedups(t *testing.T) {
	st := stateOf([]Instance{{ID: "a", Endpoint: "h:1"}, {ID: "b", Endpoint: "h:2"}, {ID: "c", Endpoint: "h:1"}, {ID: "d"}})
	if len(st.Endpoints) != 2 || st.Endpoints[0].Addresses[0].Addr != "h:1" || st.Endpoints[1].Addresses[0].Addr != "h:2" ||
		len(st.Addresses) != 2 {
		t.Fatalf("state = %+v", st)
	}
}
