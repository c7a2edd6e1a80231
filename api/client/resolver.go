package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	// least_request_experimental, for LeastRequest: the balancer is
	// grpc-go's own; importing registers it with grpc (not with us).
	_ "google.golang.org/grpc/balancer/leastrequest"
	"google.golang.org/grpc/resolver"
)

// ResolverScheme is the scheme of a registered service's gRPC target:
// conclave:///NAME, or conclave:///NAME?tag=TAG for the instances with a
// tag (ServiceTarget).
const ResolverScheme = "conclave"

// ServiceTarget is the gRPC target that resolves to the passing instances
// of service (with tag, if not empty) through Client.Resolver.
func ServiceTarget(service, tag string) string {
	t := ResolverScheme + ":///" + url.PathEscape(service)
	if tag != "" {
		t += "?tag=" + url.QueryEscape(tag)
	}
	return t
}

// Service configs for grpc.WithDefaultServiceConfig that spread the calls
// of a conclave:/// target over its instances with grpc-go's own
// balancers. Without one, gRPC uses pick_first: every call goes to one
// instance.
const (
	// RoundRobin sends each call to the next instance in turn.
	RoundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`
	// LeastRequestDefault is LeastRequest(2).
	LeastRequestDefault = `{"loadBalancingConfig":[{"least_request_experimental":{"choiceCount":2}}]}`
)

// LeastRequest is the service config of grpc-go's least_request balancer:
// each call goes to the instance with the fewest calls in flight among
// choiceCount picked at random (2 to 10; grpc clamps it).
func LeastRequest(choiceCount int) string {
	return fmt.Sprintf(`{"loadBalancingConfig":[{"least_request_experimental":{"choiceCount":%d}}]}`, choiceCount)
}

// Resolver returns a gRPC resolver for the scheme "conclave", which follows
// the registry through this Client: a target conclave:///NAME[?tag=TAG]
// resolves to the endpoints of NAME's passing instances, updated as they
// change. Give it to the application's connection, with a balancer:
//
//	conn, err := grpc.NewClient(client.ServiceTarget("echo", ""),
//		grpc.WithResolvers(cl.Resolver()),
//		grpc.WithDefaultServiceConfig(client.RoundRobin),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// It is not registered globally (resolver.Register); the Client must stay
// open while connections use it.
func (c *Client) Resolver() resolver.Builder { return &serviceResolverBuilder{reg: c.registry} }

type serviceResolverBuilder struct{ reg *Registry }

func (b *serviceResolverBuilder) Scheme() string { return ResolverScheme }

func (b *serviceResolverBuilder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service := target.Endpoint() // unescaped: ServiceTarget's escapes undone
	if service == "" {
		return nil, fmt.Errorf("client: resolver: target %q names no service (want conclave:///NAME)", target.URL.String())
	}
	f := ServiceFilter{Service: service, Tag: target.URL.Query().Get("tag"), PassingOnly: true}
	ctx, cancel := context.WithCancel(context.Background())
	r := &serviceResolver{cancel: cancel}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		follow(ctx, b.reg, f, func(u ServiceUpdate) {
			_ = cc.UpdateState(stateOf(u.Instances))
		}, func(err error) {
			cc.ReportError(fmt.Errorf("conclave resolver: service %q: %w", service, err))
		})
	}()
	return r, nil
}

// stateOf is one endpoint per distinct instance endpoint.
func stateOf(insts []Instance) resolver.State {
	var st resolver.State
	seen := map[string]bool{}
	for _, in := range insts {
		if in.Endpoint == "" || seen[in.Endpoint] {
			continue
		}
		seen[in.Endpoint] = true
		a := resolver.Address{Addr: in.Endpoint}
		st.Addresses = append(st.Addresses, a)
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{a}})
	}
	return st
}

// serviceResolver owns the goroutine following the watch; Close stops it
// and waits.
type serviceResolver struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ResolveNow has nothing to do: the watch pushes every change.
func (r *serviceResolver) ResolveNow(resolver.ResolveNowOptions) {}

func (r *serviceResolver) Close() {
	r.cancel()
	r.wg.Wait()
}

// Bounds of the pause before a broken watch is opened again.
const (
	followRetryMin = 100 * time.Millisecond
	followRetryMax = 3 * time.Second
)

// follow watches f until ctx ends, giving every answer to update; a watch
// that fails (the agent restarting, say) is reported to fail and opened
// again after a pause that doubles up to followRetryMax.
func follow(ctx context.Context, reg *Registry, f ServiceFilter, update func(ServiceUpdate), fail func(error)) {
	pause := followRetryMin
	for {
		ch, errOf, err := reg.Watch(ctx, f)
		if err == nil {
			for u := range ch {
				update(u)
				pause = followRetryMin
			}
			err = errOf()
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("the watch ended")
		}
		fail(err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, followRetryMax)
	}
}
