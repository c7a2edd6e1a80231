package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/registry"
)

// fakeDNSRegistry is an in-memory registry replica that applies Filter as
// the registry does. Safe for concurrent use.
type fakeDNSRegistry struct {
	mu    sync.Mutex
	insts []registry.Instance
	calls int
}

func (f *fakeDNSRegistry) add(service, id, endpoint string, h registry.Health, tags ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.insts = append(f.insts, registry.Instance{Service: service, ID: id, Endpoint: endpoint, Health: h, Tags: tags})
}

func (f *fakeDNSRegistry) Instances(flt registry.Filter) ([]registry.Instance, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var out []registry.Instance
	for _, in := range f.insts {
		if flt.Service != "" && in.Service != flt.Service {
			continue
		}
		if flt.Tag != "" && !slices.Contains(in.Tags, flt.Tag) {
			continue
		}
		if flt.PassingOnly && in.Health != registry.Passing {
			continue
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, 7
}

// startDNS serves a DNS interface over reg on 127.0.0.1:0 until the test
// ends; it returns the address and the registry its metric lives on.
func startDNS(t *testing.T, reg DNSRegistry, cfg func(*DNSConfig)) (*DNSServer, *prometheus.Registry) {
	t.Helper()
	c := DefaultLocalDNSConfig()
	if cfg != nil {
		cfg(&c)
	}
	pr := prometheus.NewRegistry()
	s, err := NewDNS(c, reg, WithRegistry(pr))
	if err != nil {
		t.Fatalf("NewDNS: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its ctx ended")
		}
	})
	return s, pr
}

// query asks addr over net ("udp" or "tcp") for name/qtype.
func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

func twoAPIs() *fakeDNSRegistry {
	f := &fakeDNSRegistry{}
	f.add("api", "a1", "10.0.0.1:8080", registry.Passing, "v1", "primary")
	f.add("api", "a2", "10.0.0.2:8081", registry.Passing, "v2")
	f.add("api", "a3", "10.0.0.3:8082", registry.Critical, "v1") // never served
	f.add("db", "d1", "[fd00::5]:5432", registry.Passing)
	f.add("web", "w1", "web-1.example.com:443", registry.Passing)
	return f
}

func srvSet(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
		}
	}
	sort.Strings(out)
	return out
}

func addrSet(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, a.Hdr.Name+" A "+a.A.String())
		case *dns.AAAA:
			out = append(out, a.Hdr.Name+" AAAA "+a.AAAA.String())
		}
	}
	sort.Strings(out)
	return out
}

func TestDNSAnswers(t *testing.T) {
	s, _ := startDNS(t, twoAPIs(), nil)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			addr := s.Addr()

			r := query(t, network, addr, "api.service.conclave.", dns.TypeSRV)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
				t.Fatalf("SRV rcode %s aa %v", dns.RcodeToString[r.Rcode], r.Authoritative)
			}
			want := []string{"1 1 8080 0a000001.addr.conclave.", "1 1 8081 0a000002.addr.conclave."}
			if got := srvSet(r); !slices.Equal(got, want) {
				t.Errorf("SRV answers %v, want %v (the critical instance left out)", got, want)
			}
			wantExtra := []string{"0a000001.addr.conclave. A 10.0.0.1", "0a000002.addr.conclave. A 10.0.0.2"}
			if got := addrSet(r.Extra); !slices.Equal(got, wantExtra) {
				t.Errorf("SRV additional %v, want %v", got, wantExtra)
			}

			r = query(t, network, addr, "api.service.conclave.", dns.TypeA)
			if got, want := addrSet(r.Answer), []string{"api.service.conclave. A 10.0.0.1", "api.service.conclave. A 10.0.0.2"}; !slices.Equal(got, want) {
				t.Errorf("A answers %v, want %v", got, want)
			}
			if r.Answer[0].Header().Ttl != 0 {
				t.Errorf("TTL %d, want the default 0", r.Answer[0].Header().Ttl)
			}

			r = query(t, network, addr, "v1.api.service.conclave.", dns.TypeSRV)
			if got, want := srvSet(r), []string{"1 1 8080 0a000001.addr.conclave."}; !slices.Equal(got, want) {
				t.Errorf("tag v1 SRV %v, want %v", got, want)
			}
			r = query(t, network, addr, "_api._tcp.service.conclave.", dns.TypeSRV)
			if got := srvSet(r); len(got) != 2 {
				t.Errorf("RFC 2782 _api._tcp SRV %v, want both passing instances", got)
			}
			r = query(t, network, addr, "_api._v2.service.conclave.", dns.TypeSRV)
			if got, want := srvSet(r), []string{"1 1 8081 0a000002.addr.conclave."}; !slices.Equal(got, want) {
				t.Errorf("RFC 2782 _api._v2 SRV %v, want %v", got, want)
			}

			r = query(t, network, addr, "db.service.conclave.", dns.TypeAAAA)
			if got, want := addrSet(r.Answer), []string{"db.service.conclave. AAAA fd00::5"}; !slices.Equal(got, want) {
				t.Errorf("AAAA %v, want %v", got, want)
			}
			r = query(t, network, addr, "db.service.conclave.", dns.TypeA)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
				t.Errorf("A of an IPv6-only service: rcode %s, %d answers, %d authority; want NODATA with the SOA",
					dns.RcodeToString[r.Rcode], len(r.Answer), len(r.Ns))
			}
			r = query(t, network, addr, "00000000000000000000000000000005.addr.conclave.", dns.TypeAAAA)
			if got, want := addrSet(r.Answer), []string{"00000000000000000000000000000005.addr.conclave. AAAA ::5"}; !slices.Equal(got, want) {
				t.Errorf("addr AAAA %v, want %v", got, want)
			}
			r = query(t, network, addr, "0A000001.ADDR.Conclave.", dns.TypeA)
			if got := addrSet(r.Answer); len(got) != 1 || !strings.HasSuffix(got[0], "A 10.0.0.1") {
				t.Errorf("addr A (mixed case) %v, want 10.0.0.1", got)
			}

			// Mixed case (DNS 0x20) finds the lower-case service and tag.
			r = query(t, network, addr, "V1.aPi.SERVICE.conclave.", dns.TypeSRV)
			if got, want := srvSet(r), []string{"1 1 8080 0a000001.addr.conclave."}; !slices.Equal(got, want) {
				t.Errorf("mixed-case SRV %v, want %v", got, want)
			}

			// A host name endpoint is the SRV target itself, and has no A.
			r = query(t, network, addr, "web.service.conclave.", dns.TypeSRV)
			if got, want := srvSet(r), []string{"1 1 443 web-1.example.com."}; !slices.Equal(got, want) || len(r.Extra) != 0 {
				t.Errorf("host name SRV %v extra %v, want %v and no additional", got, r.Extra, want)
			}

			for _, name := range []string{"nope.service.conclave.", "v9.api.service.conclave.", "x.node.conclave.", "zz.addr.conclave."} {
				r = query(t, network, addr, name, dns.TypeSRV)
				if r.Rcode != dns.RcodeNameError {
					t.Errorf("%s: rcode %s, want NXDOMAIN", name, dns.RcodeToString[r.Rcode])
				}
				if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Name != "conclave." {
					t.Errorf("%s: authority %v, want the conclave. SOA", name, r.Ns)
				}
			}
			r = query(t, network, addr, "conclave.", dns.TypeSOA)
			if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
				t.Errorf("apex SOA: %v", r.Answer)
			}

			for _, name := range []string{"example.com.", "api.service.consul.", "conclave.example.com."} {
				r = query(t, network, addr, name, dns.TypeA)
				if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 || r.RecursionAvailable {
					t.Errorf("%s: rcode %s answers %d ra %v, want REFUSED, nothing, no recursion",
						name, dns.RcodeToString[r.Rcode], len(r.Answer), r.RecursionAvailable)
				}
			}
		})
	}
}

func TestDNSTTLAndDomain(t *testing.T) {
	s, _ := startDNS(t, twoAPIs(), func(c *DNSConfig) { c.Domain, c.TTL = "Svc.Example.", 30*time.Second })
	r := query(t, "udp", s.Addr(), "api.service.svc.example.", dns.TypeSRV)
	if len(r.Answer) != 2 || r.Answer[0].Header().Ttl != 30 {
		t.Fatalf("answers %v, want 2 with TTL 30", r.Answer)
	}
	if got := r.Answer[0].(*dns.SRV).Target; !strings.HasSuffix(got, ".addr.svc.example.") {
		t.Errorf("target %q is not under the configured domain", got)
	}
	if r := query(t, "udp", s.Addr(), "api.service.conclave.", dns.TypeSRV); r.Rcode != dns.RcodeRefused {
		t.Errorf("the default domain under another one: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestDNSTruncatesUDP(t *testing.T) {
	f := &fakeDNSRegistry{}
	for i := range 60 {
		f.add("big", fmt.Sprintf("i%02d", i), fmt.Sprintf("10.1.0.%d:9000", i+1), registry.Passing)
	}
	s, _ := startDNS(t, f, nil)

	// Without EDNS0 a UDP answer fits 512 bytes: the TC bit says "ask over TCP".
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("big.service.conclave.", dns.TypeSRV)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 60 {
		t.Fatalf("UDP: tc %v with %d answers, want TC set and a partial answer", r.Truncated, len(r.Answer))
	}
	r.Compress = true // as it was sent
	if n := r.Len(); n > dns.MinMsgSize {
		t.Errorf("UDP answer of %d bytes, over %d", n, dns.MinMsgSize)
	}

	// With EDNS0 4096 it all fits.
	m.SetEdns0(4096, false)
	r, _, err = c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 60 || r.IsEdns0() == nil {
		t.Errorf("UDP with EDNS0: tc %v, %d answers, opt %v; want all 60 and an OPT record", r.Truncated, len(r.Answer), r.IsEdns0())
	}

	// TCP: everything.
	r = query(t, "tcp", s.Addr(), "big.service.conclave.", dns.TypeSRV)
	if r.Truncated || len(r.Answer) != 60 || len(r.Extra) != 60 {
		t.Errorf("TCP: tc %v, %d answers, %d additional; want 60 and 60", r.Truncated, len(r.Answer), len(r.Extra))
	}
}

func TestDNSMalformedCountedAndDropped(t *testing.T) {
	s, pr := startDNS(t, twoAPIs(), nil)
	count := func(rcode string) float64 { return dnsQueries(t, pr, rcode) }
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A header that claims two questions and carries none, then a short
	// packet, then a response (QR set) instead of a query.
	twoQ := []byte{0xbe, 0xef, 0x01, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0}
	resp := []byte{0xbe, 0xef, 0x81, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}
	truncated := []byte{0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 3, 'a', 'p'}
	for _, p := range [][]byte{twoQ, []byte{1, 2, 3}, resp, truncated} {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return count(dnsMalformed) >= 4 })
	// The server still answers, and counts by rcode.
	if r := query(t, "udp", s.Addr(), "api.service.conclave.", dns.TypeA); len(r.Answer) != 2 {
		t.Fatalf("after garbage: %d answers, want 2", len(r.Answer))
	}
	query(t, "udp", s.Addr(), "example.com.", dns.TypeA)
	// An UPDATE (opcode 5) is not implemented: answered NOTIMP, counted.
	upd := new(dns.Msg)
	upd.SetUpdate("conclave.")
	if r, err := dns.Exchange(upd, s.Addr()); err != nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("UPDATE: %v, %v; want NOTIMP", r, err)
	}
	if got := count("NOTIMP"); got != 1 {
		t.Errorf("NOTIMP count %v, want 1", got)
	}
	if got := count("NOERROR"); got != 1 {
		t.Errorf("NOERROR count %v, want 1", got)
	}
	if got := count("REFUSED"); got != 1 {
		t.Errorf("REFUSED count %v, want 1", got)
	}
	if got := count(dnsMalformed); got != 4 {
		t.Errorf("malformed count %v, want 4", got)
	}
}

// dnsQueries is conclave_dns_queries_total{rcode} on reg.
func dnsQueries(t *testing.T, reg *prometheus.Registry, rcode string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "conclave_dns_queries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rcode" && l.GetValue() == rcode {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestDNSConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mod  func(*DNSConfig)
		want string // substring of the error; "" = valid
	}{
		"local":          {func(*DNSConfig) {}, ""},
		"ipv6":           {func(c *DNSConfig) { c.Addr = "[::1]:8600" }, ""},
		"no port":        {func(c *DNSConfig) { c.Addr = "127.0.0.1" }, "dns addr"},
		"host name":      {func(c *DNSConfig) { c.Addr = "localhost:8600" }, "want ip:port"},
		"big port":       {func(c *DNSConfig) { c.Addr = "127.0.0.1:70000" }, "port"},
		"not fqdn":       {func(c *DNSConfig) { c.Domain = "conclave" }, "dns domain"},
		"root":           {func(c *DNSConfig) { c.Domain = "." }, "dns domain"},
		"bad label":      {func(c *DNSConfig) { c.Domain = "con_clave." }, "labels"},
		"hyphen":         {func(c *DNSConfig) { c.Domain = "-x.example." }, "labels"},
		"empty label":    {func(c *DNSConfig) { c.Domain = "a..b." }, "dns domain"},
		"negative ttl":   {func(c *DNSConfig) { c.TTL = -time.Second }, "dns ttl"},
		"fractional ttl": {func(c *DNSConfig) { c.TTL = 1500 * time.Millisecond }, "whole seconds"},
		"zero timeout":   {func(c *DNSConfig) { c.Timeout = 0 }, "dns timeout"},
		"multi-label ok": {func(c *DNSConfig) { c.Domain = "svc.cluster.local." }, ""},
		"upper-case ok":  {func(c *DNSConfig) { c.Domain = "Conclave." }, ""},
		"day ttl ok":     {func(c *DNSConfig) { c.TTL = 24 * time.Hour }, ""},
		"over a day ttl": {func(c *DNSConfig) { c.TTL = 25 * time.Hour }, "dns ttl"},
		"no addr at all": {func(c *DNSConfig) { c.Addr = "" }, "dns addr"},
		"wildcard ip ok": {func(c *DNSConfig) { c.Addr = "0.0.0.0:8600" }, ""},
		"port zero ok":   {func(c *DNSConfig) { c.Addr = "127.0.0.1:0" }, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultLocalDNSConfig()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig)):
				t.Fatalf("Validate() = %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestDNSLifecycle(t *testing.T) {
	// Close of a server that never served frees its port.
	s, err := NewDNS(DefaultLocalDNSConfig(), twoAPIs())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close = %v, want ErrClosed", err)
	}
	// The same port binds again (UDP and TCP both released).
	cfg := DefaultLocalDNSConfig()
	cfg.Addr = addr
	s2, err := NewDNS(cfg, twoAPIs())
	if err != nil {
		t.Fatalf("rebind %s: %v", addr, err)
	}
	// A server whose ctx ended before it started stops cleanly too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s2.Serve(ctx); err != nil {
		t.Fatalf("Serve with an ended ctx = %v", err)
	}
	if err := s2.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Fatalf("second Serve = %v, want ErrServing", err)
	}
	if _, err := NewDNS(cfg, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewDNS without registry = %v, want ErrInvalidConfig", err)
	}
}
