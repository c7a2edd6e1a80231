package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DNSConfig configures the DNS interface (docs/dns.md): a read-only,
// unauthenticated view of the registry's passing instances.
type DNSConfig struct {
	// Addr is ip:port; the server listens on UDP and TCP there. Port 0
	// picks one free for both (tests).
	Addr string
	// Domain is the FQDN the server is authoritative for ("conclave.");
	// anything outside it is REFUSED (no recursion).
	Domain string
	// TTL of every record and the SOA's negative-caching minimum. 0 (the
	// default, like Consul's) makes resolvers ask again each time, so a
	// failed instance drops out at once.
	TTL time.Duration
	// Timeout bounds reading a TCP query and writing any answer, so a slow
	// client cannot hold a connection.
	Timeout time.Duration
}

// DefaultDNSConfig returns the production values with Addr unset (the
// DNS interface is off unless dns.bind_addr is given).
func DefaultDNSConfig() DNSConfig {
	return DNSConfig{
		Addr:    "",
		Domain:  "conclave.",
		TTL:     0,
		Timeout: 2 * time.Second, // miekg/dns's own read and write timeouts
	}
}

// DefaultLocalDNSConfig is for tests: an ephemeral loopback port.
func DefaultLocalDNSConfig() DNSConfig {
	c := DefaultDNSConfig()
	c.Addr = "127.0.0.1:0"
	return c
}

// maxDNSTTL bounds the TTL a record may carry (a day: past that an
// instance list is fiction).
const maxDNSTTL = 24 * time.Hour

// Validate names the field at fault. It never mutates c.
func (c DNSConfig) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || net.ParseIP(host) == nil {
		return fmt.Errorf("%w: dns addr %q: want ip:port", ErrInvalidConfig, c.Addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: dns addr %q: want a port between 0 and 65535", ErrInvalidConfig, c.Addr)
	}
	if problem := DNSDomainProblem(c.Domain); problem != "" {
		return fmt.Errorf("%w: dns domain %q: %s", ErrInvalidConfig, c.Domain, problem)
	}
	if c.TTL < 0 || c.TTL > maxDNSTTL || c.TTL%time.Second != 0 {
		return fmt.Errorf("%w: dns ttl %s: want whole seconds between 0s and %s", ErrInvalidConfig, c.TTL, maxDNSTTL)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%w: dns timeout %s: must be > 0", ErrInvalidConfig, c.Timeout)
	}
	return nil
}

// DNSDomainProblem says what is wrong with a DNS domain, "" when it is a
// valid FQDN (ends with a dot, is not the root, and has only letters,
// digits and hyphens in its labels).
func DNSDomainProblem(d string) string {
	if !strings.HasSuffix(d, ".") || d == "." {
		return "want a fully qualified name ending with a dot, such as conclave."
	}
	if _, ok := dns.IsDomainName(d); !ok {
		return "not a valid domain name"
	}
	for _, l := range dns.SplitDomainName(d) {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "labels must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen"
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return "labels must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen"
			}
		}
	}
	return ""
}

// DNSServer serves the DNS interface on one address, UDP and TCP. NewDNS
// binds both sockets; Serve serves until its ctx ends; Close releases the
// sockets of a server that never served. Queries are answered from
// DNSRegistry on miekg/dns's goroutines, one per query (UDP) or connection
// (TCP), which Serve waits for before it returns.
type DNSServer struct {
	cfg  DNSConfig
	log  zerolog.Logger
	ans  *dnsAnswerer
	udp  net.PacketConn
	tcp  net.Listener
	reqs *prometheus.CounterVec

	mu      sync.Mutex
	serving bool
	closed  bool
}

// dnsUDPSize is the largest UDP query read, and what the EDNS0 record of a
// reply advertises (the common safe size, RFC 6891 §6.2.5).
const dnsUDPSize = 4096

// Metric label values of conclave_dns_queries_total beside the rcodes.
const (
	// dnsMalformed counts packets that did not parse; miekg/dns drops those
	// whose header does not parse and answers FORMERR to the others.
	dnsMalformed = "malformed"
)

// NewDNS validates cfg and binds the UDP socket and the TCP listener on
// cfg.Addr (the same port for both, also when it is 0). Of opts it uses
// WithLogger (component=dns) and WithRegistry, on which it registers
// conclave_dns_queries_total. It does not serve yet: call Serve, or Close.
func NewDNS(cfg DNSConfig, reg DNSRegistry, opts ...Option) (*DNSServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		return nil, fmt.Errorf("%w: dns: no registry", ErrInvalidConfig)
	}
	o := options{logger: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.registry == nil {
		o.registry = prometheus.NewRegistry()
	}
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "conclave", Name: "dns_queries_total",
		Help: "DNS queries answered, by response code (NOERROR, NXDOMAIN, REFUSED, ...); rcode=\"malformed\" counts packets that did not parse.",
	}, []string{"rcode"})
	if err := o.registry.Register(reqs); err != nil {
		return nil, fmt.Errorf("api: dns metrics: %w", err)
	}
	udp, tcp, err := listenDNS(cfg.Addr)
	if err != nil {
		o.registry.Unregister(reqs)
		return nil, err
	}
	s := &DNSServer{
		cfg: cfg,
		log: o.logger.With().Str("component", "dns").Logger(),
		ans: &dnsAnswerer{
			reg:     reg,
			domain:  strings.ToLower(cfg.Domain),
			ttl:     uint32(cfg.TTL / time.Second),
			shuffle: true,
		},
		udp:  udp,
		tcp:  tcp,
		reqs: reqs,
	}
	return s, nil
}

// listenDNS binds UDP then TCP on addr. With port 0 the TCP listener takes
// the port UDP got; if another socket holds that TCP port it tries again
// with a new one.
func listenDNS(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	tries := 1
	if port == "0" {
		tries = 10
	}
	var lastErr error
	for range tries {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("api: dns: listen udp %s: %w", addr, err)
		}
		_, p, _ := net.SplitHostPort(udp.LocalAddr().String())
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("api: dns: listen tcp %s: %w", addr, lastErr)
}

// Addr is the bound address (UDP and TCP share it).
func (s *DNSServer) Addr() string { return s.udp.LocalAddr().String() }

// Serve answers queries until ctx ends, then stops both servers and waits
// for their goroutines and the queries in flight. It returns nil after ctx
// ends, or the first error that stopped a server. It may be called once;
// the sockets are closed when it returns.
func (s *DNSServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.serving:
		s.mu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.mu.Unlock()

	servers := []*dns.Server{
		{PacketConn: s.udp, Net: "udp", UDPSize: dnsUDPSize},
		{Listener: s.tcp, Net: "tcp", MaxTCPQueries: 128},
	}
	type running struct {
		started chan struct{}
		done    chan error
	}
	runs := make([]running, len(servers))
	for i, srv := range servers {
		r := running{started: make(chan struct{}), done: make(chan error, 1)}
		runs[i] = r
		srv.Handler = dns.HandlerFunc(s.serveDNS)
		srv.ReadTimeout, srv.WriteTimeout = s.cfg.Timeout, s.cfg.Timeout
		srv.MsgAcceptFunc = s.accept
		srv.MsgInvalidFunc = s.invalid
		srv.NotifyStartedFunc = func() { close(r.started) }
		go func() { r.done <- srv.ActivateAndServe() }()
	}
	s.log.Info().Str("addr", s.Addr()).Str("domain", s.cfg.Domain).Dur("ttl", s.cfg.TTL).Msg("dns serving")

	var first error
	stopped := make([]bool, len(servers))
	select {
	case <-ctx.Done():
	case first = <-runs[0].done:
		stopped[0] = true
	case first = <-runs[1].done:
		stopped[1] = true
	}
	for i, srv := range servers {
		if stopped[i] {
			continue
		}
		// Shutdown before the server started would be refused and leave
		// it running: wait for one or the other.
		select {
		case <-runs[i].started:
		case err := <-runs[i].done:
			first = errors.Join(first, err)
			continue
		}
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout+time.Second)
		if err := srv.ShutdownContext(sctx); err != nil {
			first = errors.Join(first, fmt.Errorf("dns shutdown: %w", err))
		}
		cancel()
		if err := <-runs[i].done; err != nil {
			first = errors.Join(first, err)
		}
	}
	_ = s.udp.Close()
	_ = s.tcp.Close()
	s.log.Info().Msg("dns stopped")
	if first != nil {
		return fmt.Errorf("api: dns: %w", first)
	}
	return nil
}

// Close releases the sockets of a server that is not serving; a serving
// one stops when its Serve ctx ends. Idempotent.
func (s *DNSServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.serving {
		s.closed = true
		return nil
	}
	s.closed = true
	return errors.Join(s.udp.Close(), s.tcp.Close())
}

// accept is miekg's default filter (one question, a query or notify,
// sane section counts), except that what it refuses is dropped and
// counted: answering garbage helps only whoever spoofs its source.
func (s *DNSServer) accept(dh dns.Header) dns.MsgAcceptAction {
	switch act := dns.DefaultMsgAcceptFunc(dh); act {
	case dns.MsgReject, dns.MsgIgnore: // MsgIgnore: a response, not a query
		s.reqs.WithLabelValues(dnsMalformed).Inc()
		return dns.MsgIgnore
	case dns.MsgRejectNotImplemented: // miekg answers NOTIMP itself
		s.reqs.WithLabelValues(dns.RcodeToString[dns.RcodeNotImplemented]).Inc()
		return act
	default:
		return act
	}
}

// invalid counts packets that failed to unpack.
func (s *DNSServer) invalid(_ []byte, _ error) {
	s.reqs.WithLabelValues(dnsMalformed).Inc()
}

// serveDNS is the handler: answer, fit the reply to the transport (the TC
// bit on UDP tells the client to ask again over TCP), count, write.
func (s *DNSServer) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.ans.answer(req)
	size := dns.MaxMsgSize
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		size = dns.MinMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		if udp := int(opt.UDPSize()); size == dns.MinMsgSize && udp > size {
			size = min(udp, dnsUDPSize) // larger UDP answers fragment
		}
		resp.SetEdns0(dnsUDPSize, false)
	}
	resp.Truncate(size)
	s.reqs.WithLabelValues(dns.RcodeToString[resp.Rcode]).Inc()
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug().Err(err).Str("peer", w.RemoteAddr().String()).Msg("dns write")
	}
}
