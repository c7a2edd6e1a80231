package api

import (
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/conclave-dev/conclave/registry"
)

// DNSRegistry is what the DNS interface reads: the registry's local replica.
type DNSRegistry interface {
	// Instances returns the instances f selects, sorted, and the index of
	// the replica they were read at. The DNS server calls it from its
	// serving goroutines, concurrently, once per query; it must not block
	// on the network (a local read). The DNS server only reads the
	// returned slice.
	Instances(f registry.Filter) ([]registry.Instance, uint64)
}

// dnsAnswerer builds replies from the registry: the pure part of the DNS
// interface, without sockets, so the fuzz target and unit tests drive it
// directly. It is safe for concurrent use (it holds no mutable state).
type dnsAnswerer struct {
	reg    DNSRegistry
	domain string // lower-case FQDN, "conclave."
	ttl    uint32 // seconds
	// shuffle spreads load over instances, as Consul does; tests turn it
	// off to compare answers in order.
	shuffle bool
}

// Labels that select what a name under the domain asks for.
const (
	dnsServiceLabel = "service"
	dnsAddrLabel    = "addr"
)

// answer builds the reply to req. It never returns nil and never panics on
// any request that unpacked.
func (a *dnsAnswerer) answer(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = false
	resp.Compress = true
	if req.Opcode != dns.OpcodeQuery {
		resp.Authoritative = false
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	}
	if len(req.Question) != 1 {
		resp.Authoritative = false
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Authoritative = false
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	lower := strings.ToLower(q.Name)
	if !dns.IsSubDomain(a.domain, lower) {
		// Not ours, and we do not recurse: an open resolver would be an
		// amplifier.
		resp.Authoritative = false
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	// The labels left of the domain, as the client spelled them: service
	// names are matched exactly (the registry's names are case-sensitive).
	labels := dns.SplitDomainName(q.Name)
	labels = labels[:len(labels)-dns.CountLabel(a.domain)]
	switch {
	case len(labels) == 0:
		a.apex(resp, q)
	case strings.EqualFold(labels[len(labels)-1], dnsServiceLabel):
		a.service(resp, q, labels[:len(labels)-1])
	case strings.EqualFold(labels[len(labels)-1], dnsAddrLabel) && len(labels) == 2:
		a.addr(resp, q, labels[0])
	default:
		a.nxdomain(resp)
	}
	return resp
}

// apex answers the domain itself: its SOA, nothing else.
func (a *dnsAnswerer) apex(resp *dns.Msg, q dns.Question) {
	if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
		resp.Answer = append(resp.Answer, a.soa())
		return
	}
	resp.Ns = append(resp.Ns, a.soa())
}

// service answers NAME.service, TAG.NAME.service and the RFC 2782 form
// _NAME._PROTO.service (_tcp matches every instance, as in Consul; another
// _PROTO is a tag).
func (a *dnsAnswerer) service(resp *dns.Msg, q dns.Question, labels []string) {
	var f registry.Filter
	switch {
	case len(labels) == 2 && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") && len(labels[0]) > 1 && len(labels[1]) > 1:
		f.Service = labels[0][1:]
		if proto := labels[1][1:]; !strings.EqualFold(proto, "tcp") {
			f.Tag = proto
		}
	case len(labels) == 2:
		f.Tag, f.Service = labels[0], labels[1]
	case len(labels) == 1:
		f.Service = labels[0]
	default:
		a.nxdomain(resp)
		return
	}
	if f.Service == "" || strings.ContainsRune(f.Service, '\\') || strings.ContainsRune(f.Tag, '\\') {
		// An escaped label (\. or \032) cannot be a name we serve.
		a.nxdomain(resp)
		return
	}
	f.PassingOnly = true
	insts, _ := a.reg.Instances(f)
	if lower := (registry.Filter{Service: strings.ToLower(f.Service), Tag: strings.ToLower(f.Tag), PassingOnly: true}); len(insts) == 0 && lower != f {
		// Resolvers may randomise the case of a query (DNS 0x20): a
		// lower-case name is found whatever case the query arrives in.
		insts, _ = a.reg.Instances(lower)
	}
	eps := make([]dnsEndpoint, 0, len(insts))
	for _, in := range insts {
		if in.Health != registry.Passing {
			continue // PassingOnly is the registry's promise; DNS never hands out a failing one
		}
		if ep, ok := a.endpoint(in.Endpoint); ok {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		a.nxdomain(resp)
		return
	}
	if a.shuffle {
		rand.Shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
	}
	switch q.Qtype {
	case dns.TypeSRV:
		seen := make(map[string]bool, len(eps))
		for _, ep := range eps {
			resp.Answer = append(resp.Answer, &dns.SRV{
				Hdr: a.hdr(q.Name, dns.TypeSRV), Priority: 1, Weight: 1, Port: ep.port, Target: ep.target,
			})
			if ep.ip.IsValid() && !seen[ep.target] {
				seen[ep.target] = true
				resp.Extra = append(resp.Extra, a.addrRR(ep.target, ep.ip))
			}
		}
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		seen := make(map[netip.Addr]bool, len(eps))
		for _, ep := range eps {
			if !ep.ip.IsValid() || seen[ep.ip] || !wantsAddr(q.Qtype, ep.ip) {
				continue // a host name endpoint is reachable through SRV only
			}
			seen[ep.ip] = true
			resp.Answer = append(resp.Answer, a.addrRR(q.Name, ep.ip))
		}
	}
	if len(resp.Answer) == 0 {
		// The name exists, not with this type (NODATA): the SOA says for
		// how long to cache that.
		resp.Ns = append(resp.Ns, a.soa())
	}
}

// addr answers <hex IP>.addr.DOMAIN, the SRV targets of instances whose
// endpoint is an IP (Consul's form): 8 hex digits for IPv4, 32 for IPv6.
func (a *dnsAnswerer) addr(resp *dns.Msg, q dns.Question, label string) {
	b, err := hex.DecodeString(label)
	ip, ok := netip.AddrFromSlice(b)
	if err != nil || !ok {
		a.nxdomain(resp)
		return
	}
	if wantsAddr(q.Qtype, ip) {
		resp.Answer = append(resp.Answer, a.addrRR(q.Name, ip))
		return
	}
	resp.Ns = append(resp.Ns, a.soa())
}

func wantsAddr(qtype uint16, ip netip.Addr) bool {
	switch qtype {
	case dns.TypeANY:
		return true
	case dns.TypeA:
		return ip.Is4()
	case dns.TypeAAAA:
		return ip.Is6()
	}
	return false
}

// dnsEndpoint is an instance's endpoint as DNS serves it.
type dnsEndpoint struct {
	ip     netip.Addr // invalid when the host is a name
	port   uint16
	target string // SRV target: <hex>.addr.DOMAIN, or the host name
}

// endpoint parses host:port. An endpoint that does not parse (the registry
// validates them, so only an older or foreign entry) is left out.
func (a *dnsAnswerer) endpoint(ep string) (dnsEndpoint, bool) {
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		return dnsEndpoint{}, false
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return dnsEndpoint{}, false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		return dnsEndpoint{ip: ip, port: uint16(port), target: hex.EncodeToString(ip.AsSlice()) + "." + dnsAddrLabel + "." + a.domain}, true
	}
	if _, ok := dns.IsDomainName(host); !ok || host == "" {
		return dnsEndpoint{}, false
	}
	return dnsEndpoint{port: uint16(port), target: dns.Fqdn(host)}, true
}

func (a *dnsAnswerer) hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: a.ttl}
}

func (a *dnsAnswerer) addrRR(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: a.hdr(name, dns.TypeA), A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: a.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()}
}

func (a *dnsAnswerer) nxdomain(resp *dns.Msg) {
	resp.Rcode = dns.RcodeNameError
	resp.Ns = append(resp.Ns, a.soa())
}

// soa is the domain's SOA, for the authority section of negative answers.
// Its minimum (the negative-caching TTL, RFC 2308) is the configured TTL,
// so a service that appears is seen as soon as its records would be.
func (a *dnsAnswerer) soa() dns.RR {
	return &dns.SOA{
		Hdr:     a.hdr(a.domain, dns.TypeSOA),
		Ns:      "ns." + a.domain,
		Mbox:    "hostmaster." + a.domain,
		Serial:  uint32(time.Now().Unix()),
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  a.ttl,
	}
}
