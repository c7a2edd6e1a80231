package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
)

// dnsSource is a node that can hand the DNS interface its registry replica
// (test fakes implement it).
type dnsSource interface {
	DNSRegistry() api.DNSRegistry
}

// dnsRegistryOf is what the DNS interface of the agent reads: the node's
// registry replica, or nil when the node has none.
func dnsRegistryOf(n agentNode) api.DNSRegistry {
	switch n := n.(type) {
	case dnsSource:
		return n.DNSRegistry()
	case *cluster.Node:
		return n.Registry()
	}
	return nil
}

// errNoDNSRegistry: dns.bind_addr is set but the node serves no registry.
var errNoDNSRegistry = errors.New("dns: this node has no service registry to answer from")

// agentDNS is the agent's DNS interface while it runs: Stop ends it and
// waits; Done reports an unexpected end. A nil *agentDNS (DNS off) is
// valid: Stop does nothing and Done never fires.
type agentDNS struct {
	srv    *api.DNSServer
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Serve's result, set before done closes
	once   sync.Once
}

// startAgentDNS binds and serves the DNS interface when cfg.DNS is on, over
// reg, logging with log and counting on prom. It returns nil when DNS is
// off.
func startAgentDNS(cfg config.Config, reg api.DNSRegistry, log zerolog.Logger, prom *prometheus.Registry) (*agentDNS, error) {
	if !cfg.DNS.Enabled() {
		return nil, nil
	}
	if reg == nil {
		return nil, errNoDNSRegistry
	}
	dc := api.DefaultDNSConfig()
	dc.Addr, dc.Domain, dc.TTL = cfg.DNS.BindAddr, cfg.DNS.Domain, cfg.DNS.TTL.Duration()
	srv, err := api.NewDNS(dc, reg, api.WithLogger(log), api.WithRegistry(prom))
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &agentDNS{srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.err = srv.Serve(ctx)
	}()
	return d, nil
}

// Addr is the bound address ("" when DNS is off).
func (d *agentDNS) Addr() string {
	if d == nil {
		return ""
	}
	return d.srv.Addr()
}

// Done is closed when the DNS server stopped (nil channel when off).
func (d *agentDNS) Done() <-chan struct{} {
	if d == nil {
		return nil
	}
	return d.done
}

// Stop ends the DNS interface, waits for it and returns Serve's error.
// Idempotent.
func (d *agentDNS) Stop() error {
	if d == nil {
		return nil
	}
	d.once.Do(d.cancel)
	<-d.done
	return d.err
}
