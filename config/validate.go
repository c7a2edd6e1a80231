package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Limits checked by Validate.
const (
	// maxFailureDomainLen bounds cluster.failure_domain: it travels in every
	// gossip message and memberlist's node metadata budget is small.
	maxFailureDomainLen = 128
	maxVotersLimit      = 9  // beyond 9 voters every write waits on more disks for no safety gain
	maxStandbysLimit    = 16 // each standby is a full replication stream from the leader
	maxPort             = 65535
	// maxGroupPayload: a broadcast travels in one internode frame (4 MiB)
	// with its header, and in one gRPC message (4 MiB).
	maxGroupPayload = 3 << 20
	// maxDNSTTL: past a day a cached instance list is fiction.
	maxDNSTTL = 24 * time.Hour
	// minDiscoverInterval keeps a typo ("30ms") from hammering DNS or the
	// disk.
	minDiscoverInterval = time.Second
)

// Validate checks ranges and cross-field rules and returns every problem
// found, joined with errors.Join (a single *Error when there is one), each
// wrapping ErrInvalid and reading "cluster.raft.max_voters: must be odd,
// got 4". It never mutates c and does no I/O: the secret file is read by
// GossipKey (Parse calls both).
func (c Config) Validate() error {
	return joinErrors(c.validate())
}

// problems collects Errors for one Validate run.
type problems []*Error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &Error{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (c Config) validate() []*Error {
	var p problems
	cl := c.Cluster

	p.checkName("cluster.name", cl.Name)
	if len(cl.FailureDomain) > maxFailureDomainLen {
		p.add("cluster.failure_domain", "must be at most %d bytes, got %d", maxFailureDomainLen, len(cl.FailureDomain))
	}
	if cl.DataDir == "" {
		p.add("cluster.data_dir", "must not be empty")
	}

	m := cl.Membership
	p.checkIP("cluster.membership.bind_addr", m.BindAddr, false)
	p.checkPort("cluster.membership.bind_port", m.BindPort)
	p.checkIP("cluster.membership.advertise_addr", m.AdvertiseAddr, true)
	p.checkPort("cluster.membership.advertise_port", m.AdvertisePort)
	for i, a := range m.JoinAddrs {
		if problem := checkJoinAddr(a); problem != "" {
			p.add(fmt.Sprintf("cluster.membership.join_addrs[%d]", i), "%s", problem)
		}
	}
	switch {
	case m.Secret != "" && m.SecretFile != "":
		p.add("cluster.membership.secret", "set either secret or secret_file, not both")
	case m.Secret != "":
		if _, problem, err := decodeKey(m.Secret); problem != "" {
			p = append(p, &Error{Key: "cluster.membership.secret", Problem: problem, Err: err})
		}
	}

	p.checkDiscover(m)

	in := cl.Internode
	p.checkIP("cluster.internode.bind_addr", in.BindAddr, true)
	if in.BindPort != EphemeralPort && (in.BindPort < 0 || in.BindPort > maxPort) {
		p.add("cluster.internode.bind_port", "must be -1 (ephemeral) or between 0 and %d, got %d", maxPort, in.BindPort)
	}
	if in.AdvertiseAddr != "" && !validHost(in.AdvertiseAddr) {
		p.add("cluster.internode.advertise_addr", "want an IP address or host name without a port, got %q", in.AdvertiseAddr)
	}

	p.checkRaft(cl.Raft)
	p.checkNames(cl.Names)
	p.checkEventualKV(cl.EventualKV)
	p.checkGroups(cl.Groups)
	p.checkHealth(cl.Health)

	p.checkListen("api.grpc_addr", c.API.GRPCAddr)
	p.checkListen("api.http_addr", c.API.HTTPAddr)
	p.checkPortClashes(c)
	for _, h := range c.API.HTTPAllowedHosts {
		if net.ParseIP(strings.Trim(h, "[]")) == nil && !validHost(h) {
			p.add("api.http_allowed_hosts", "want host names or IPs without a port, got %q", h)
		}
	}

	p.checkTLS(c.TLS)
	p.checkDNS(c)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be one of debug, info, warn, error; got %q", c.Log.Level)
	}
	switch c.ACL.DefaultPolicy {
	case "deny", "allow":
	default:
		p.add("acl.default_policy", "must be deny or allow; got %q", c.ACL.DefaultPolicy)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		p.add("log.format", "must be one of json, console; got %q", c.Log.Format)
	}
	return p
}

func (p *problems) checkNames(n NamesConfig) {
	if d := n.StrongDeadline.Duration(); d <= 0 || d > time.Minute {
		p.add("cluster.names.strong_deadline", "must be > 0 and at most 1m, got %s", d)
	}
}

// maxEventualValue and maxEventualStore cap the eventual KV bounds: a value
// travels in one gossip message, and the store is held in memory.
const (
	maxEventualValue = 1 << 20
	maxEventualStore = 1 << 30
)

func (p *problems) checkEventualKV(e EventualKVConfig) {
	if e.MaxValueBytes < 1 || e.MaxValueBytes > maxEventualValue {
		p.add("cluster.eventual_kv.max_value_bytes", "must be between 1 and %d, got %d", maxEventualValue, e.MaxValueBytes)
	}
	if e.MaxStoreBytes < e.MaxValueBytes || e.MaxStoreBytes > maxEventualStore {
		p.add("cluster.eventual_kv.max_store_bytes", "must be at least max_value_bytes (%d) and at most %d, got %d", e.MaxValueBytes, maxEventualStore, e.MaxStoreBytes)
	}
	if d := e.TombstoneTTL.Duration(); d < time.Minute {
		p.add("cluster.eventual_kv.tombstone_ttl", "must be at least 1m (a shorter one lets a briefly cut-off node bring deleted values back), got %s", d)
	}
}

func (p *problems) checkRaft(r RaftConfig) {
	switch r.Role {
	case RoleAuto, RoleClient:
	default:
		p.add("cluster.raft.role", "must be one of auto, client; got %q", r.Role)
	}
	votersOK := false
	switch {
	case r.MaxVoters < 1 || r.MaxVoters > maxVotersLimit:
		p.add("cluster.raft.max_voters", "must be between 1 and %d, got %d", maxVotersLimit, r.MaxVoters)
	case r.MaxVoters%2 == 0:
		p.add("cluster.raft.max_voters", "must be odd, got %d", r.MaxVoters)
	default:
		votersOK = true
	}
	switch {
	case r.BootstrapExpect < 0:
		p.add("cluster.raft.bootstrap_expect", "must be >= 0, got %d", r.BootstrapExpect)
	case r.BootstrapExpect > 0 && r.Role == RoleClient:
		// A client is never in the Raft configuration, so it cannot be one
		// of the N that bootstrap; Consul refuses the same combination.
		p.add("cluster.raft.bootstrap_expect", "must be 0 when role is client, got %d", r.BootstrapExpect)
	case votersOK && r.BootstrapExpect > r.MaxVoters:
		// Bootstrap makes all N voters at once; more than max_voters would
		// start the cluster in a shape the reconciler immediately undoes.
		p.add("cluster.raft.bootstrap_expect", "must be at most max_voters (%d), got %d", r.MaxVoters, r.BootstrapExpect)
	}
	if r.Priority < 0 {
		p.add("cluster.raft.priority", "must be >= 0, got %d", r.Priority)
	}
	if r.MaxStandbys < 0 || r.MaxStandbys > maxStandbysLimit {
		p.add("cluster.raft.max_standbys", "must be between 0 and %d, got %d", maxStandbysLimit, r.MaxStandbys)
	}
	if r.ReconcileDebounce <= 0 {
		p.add("cluster.raft.reconcile_debounce", "must be > 0, got %s", r.ReconcileDebounce)
	}
	if r.Stabilization < 0 {
		p.add("cluster.raft.stabilization", "must be >= 0, got %s", r.Stabilization)
	}
	switch r.Admission {
	case AdmissionAuto, AdmissionManual:
	default:
		p.add("cluster.raft.admission", "must be one of auto, manual; got %q", r.Admission)
	}
	switch r.LogStore {
	case LogStoreBolt, LogStoreWAL:
	default:
		p.add("cluster.raft.log_store", "must be one of bolt, wal; got %q", r.LogStore)
	}
	if r.SnapshotThreshold < 1 {
		p.add("cluster.raft.snapshot_threshold", "must be at least 1, got %d", r.SnapshotThreshold)
	}
	if r.TrailingLogs < 0 {
		p.add("cluster.raft.trailing_logs", "must not be negative, got %d", r.TrailingLogs)
	}
	if r.SnapshotInterval.Duration() < time.Second {
		p.add("cluster.raft.snapshot_interval", "must be at least 1s, got %s", r.SnapshotInterval.Duration())
	}
}

func (p *problems) checkGroups(g GroupsConfig) {
	if g.MaxPayloadBytes < 1 || g.MaxPayloadBytes > maxGroupPayload {
		p.add("cluster.groups.max_payload_bytes", "must be between 1 and %d, got %d", maxGroupPayload, g.MaxPayloadBytes)
	}
	if g.AntiEntropyInterval <= 0 {
		p.add("cluster.groups.anti_entropy_interval", "must be > 0, got %s", g.AntiEntropyInterval)
	}
	if g.HeartbeatInterval <= 0 {
		p.add("cluster.groups.heartbeat_interval", "must be > 0, got %s", g.HeartbeatInterval)
	}
}

func (p *problems) checkHealth(h HealthConfig) {
	if h.MaxLagEntries < 1 {
		p.add("cluster.health.max_lag_entries", "must be >= 1, got %d", h.MaxLagEntries)
	}
	if h.MaxLagTime <= 0 {
		p.add("cluster.health.max_lag_time", "must be > 0, got %s", h.MaxLagTime)
	}
	if h.MinDiskFreeBytes < 0 {
		p.add("cluster.health.min_disk_free_bytes", "must be >= 0, got %d", h.MinDiskFreeBytes)
	}
}

func (p *problems) checkName(key, name string) {
	if msg := wire.NodeNameProblem(name); msg != "" {
		p.add(key, "%s", msg)
	}
}

// ValidNodeName checks a node name (cluster.name) by the rules of the
// configuration, for the other places that take one (operator admit). The
// error names the field.
func ValidNodeName(field, name string) error {
	if msg := wire.NodeNameProblem(name); msg != "" {
		return fmt.Errorf("%s: %s", field, msg)
	}
	return nil
}

func (p *problems) checkPort(key string, port int) {
	if port < 0 || port > maxPort {
		p.add(key, "must be between 0 and %d, got %d", maxPort, port)
	}
}

// checkIP requires an IP literal: memberlist binds and advertises only IPs.
func (p *problems) checkIP(key, addr string, emptyOK bool) {
	if addr == "" {
		if !emptyOK {
			p.add(key, "must not be empty")
		}
		return
	}
	if net.ParseIP(addr) == nil {
		p.add(key, "want an IP address, got %q", addr)
	}
}

// checkListen requires host:port with a numeric port; an empty host listens
// on all interfaces and port 0 picks a free one (tests).
func (p *problems) checkListen(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "want host:port, got %q", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > maxPort {
		p.add(key, "want a port between 0 and %d, got %q", maxPort, port)
		return
	}
	if host != "" && !validHost(host) {
		p.add(key, "want an IP address or host name before the port, got %q", host)
	}
}

// checkJoinAddr accepts "host" or "host:port"; memberlist gives a bare host
// the local gossip port.
func checkJoinAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		// A bare host, or a bare IPv6 address ("fd00::1").
		if validHost(a) {
			return ""
		}
		return fmt.Sprintf("want host or host:port, got %q", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > maxPort {
		return fmt.Sprintf("want a port between 1 and %d, got %q", maxPort, port)
	}
	if !validHost(host) {
		return fmt.Sprintf("want an IP address or host name before the port, got %q", host)
	}
	return ""
}

// validHost accepts an IP literal or something shaped like a DNS name. It
// does not resolve: names may only exist once the network is up.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}

func (p *problems) checkTLS(t TLSConfig) {
	if !t.Enabled() {
		if t.VerifyIncoming {
			p.add("tls.verify_incoming", "needs tls.ca_file, tls.cert_file and tls.key_file")
		}
		return
	}
	for _, f := range [...]struct{ key, v string }{{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		if f.v == "" {
			p.add(f.key, "must be set when any of tls.ca_file, tls.cert_file, tls.key_file is")
		}
	}
}

// CheckExposure refuses doors that face the network in clear (gossip without
// a key, the mesh or an API without TLS, an API that checks no client: no
// ACLs and no client certificates, on an address other than loopback)
// unless the operator wrote insecure: true. It is separate from Validate
// because it judges a whole deployment, not the schema: the agent and
// cluster.New call it on the final configuration, after flags. Errors read
// like Validate's and wrap ErrInvalid.
func (c Config) CheckExposure() error {
	if c.Insecure {
		return nil
	}
	var p problems
	p.checkExposure(c)
	return joinErrors(p)
}

func (p *problems) checkExposure(c Config) {
	const fix = "; set %s, or insecure: true to run in clear on purpose"
	cl := c.Cluster
	if cl.Enabled {
		if !loopbackHost(cl.Membership.BindAddr) && cl.Membership.Secret == "" && cl.Membership.SecretFile == "" {
			p.add("cluster.membership.bind_addr", "gossip on %s without an encryption key"+fix,
				cl.Membership.BindAddr, "cluster.membership.secret_file")
		}
		if !loopbackHost(cl.InternodeBindAddr()) && !c.TLS.Enabled() {
			p.add("cluster.internode.bind_addr", "internode mesh on %s without TLS"+fix, cl.InternodeBindAddr(), "tls")
		}
	}
	for _, a := range [...]struct{ key, addr string }{{"api.grpc_addr", c.API.GRPCAddr}, {"api.http_addr", c.API.HTTPAddr}} {
		host, _, err := net.SplitHostPort(a.addr)
		switch {
		case err != nil || loopbackHost(host):
		case !c.TLS.Enabled():
			p.add(a.key, "API on %s without TLS"+fix, a.addr, "tls")
		case !c.TLS.VerifyIncoming && !c.ACL.Enabled:
			// TLS proves the server to the client, not the client to the
			// server: without client certificates or ACLs anyone who
			// reaches the port may do everything.
			p.add(a.key, "API on %s admits any client that reaches it (no client certificates, no ACLs)"+fix,
				a.addr, "acl.enabled: true (docs/acl.md) or tls.verify_incoming: true")
		}
	}
}

// loopbackHost reports whether a bind host is a loopback address or name.
// "" and unspecified addresses listen on every interface: not loopback.
func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (p *problems) checkDiscover(m MembershipConfig) {
	d := m.Discover
	if d.DNS != "" {
		if _, _, err := net.SplitHostPort(d.DNS); err == nil || net.ParseIP(d.DNS) != nil || !validHost(d.DNS) {
			p.add("cluster.membership.discover.dns", "want a DNS name without a port (SRV records carry ports), got %q", d.DNS)
		}
	}
	if d.Interval.Duration() < minDiscoverInterval {
		p.add("cluster.membership.discover.interval", "must be at least %s, got %s", minDiscoverInterval, d.Interval)
	}
	if m.AllowOnlyInventory && !d.Enabled() {
		p.add("cluster.membership.allow_only_inventory", "needs an inventory: set cluster.membership.discover.dns or cluster.membership.discover.file")
	}
}

func (p *problems) checkDNS(c Config) {
	d := c.DNS
	if problem := dnsDomainProblem(d.Domain); problem != "" {
		p.add("dns.domain", "%s, got %q", problem, d.Domain)
	}
	if ttl := d.TTL.Duration(); ttl < 0 || ttl > maxDNSTTL || ttl%time.Second != 0 {
		p.add("dns.ttl", "want whole seconds between 0s and %s, got %s", maxDNSTTL, ttl)
	}
	if !d.Enabled() {
		return
	}
	host, port, err := net.SplitHostPort(d.BindAddr)
	if err != nil || net.ParseIP(host) == nil {
		p.add("dns.bind_addr", "want ip:port (an IP literal), got %q", d.BindAddr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > maxPort {
		p.add("dns.bind_addr", "want a port between 0 and %d, got %q", maxPort, port)
		return
	}
	if c.ACL.Enabled && !loopbackHost(host) && !d.AllowUnauthenticated {
		// DNS carries no token: with ACLs on, an open DNS port would
		// list what the ACLs hide (Consul answers DNS with the agent's
		// default token; we have none, so the operator decides).
		p.add("dns.bind_addr", "DNS on %s answers without a token while acl.enabled is set, revealing every service; "+
			"bind it to loopback, or set dns.allow_unauthenticated: true to accept that", d.BindAddr)
	}
}

// dnsDomainProblem says what is wrong with a DNS domain, "" for a valid
// FQDN: ends with a dot, is not the root, labels of 1-63 letters, digits
// and hyphens that neither start nor end with a hyphen, at most 253 bytes.
func dnsDomainProblem(d string) string {
	if !strings.HasSuffix(d, ".") || d == "." {
		return "want a fully qualified domain name ending with a dot, such as conclave."
	}
	if len(d) > 254 {
		return "want at most 253 bytes"
	}
	for _, l := range strings.Split(strings.TrimSuffix(d, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "want labels of 1-63 letters, digits or hyphens, not starting or ending with a hyphen"
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return "want labels of 1-63 letters, digits or hyphens, not starting or ending with a hyphen"
			}
		}
	}
	return ""
}
