package config

import (
	"os"
	"time"
)

// Config is the whole agent configuration file. The yaml tags are the keys an
// operator writes; Parse refuses any other key.
type Config struct {
	Cluster ClusterConfig `yaml:"cluster"`
	API     APIConfig     `yaml:"api"`
	TLS     TLSConfig     `yaml:"tls"`
	Log     LogConfig     `yaml:"log"`
	ACL     ACLConfig     `yaml:"acl"`
	DNS     DNSConfig     `yaml:"dns"`
	// Insecure allows the doors that face the network to run in clear: gossip
	// without an encryption key, the internode mesh and the APIs without TLS,
	// on addresses other than loopback. Without it such a configuration is
	// refused at start: a plain setup is something the operator writes down,
	// never an accident. Loopback-only doors (--dev, tests) need no word.
	Insecure bool `yaml:"insecure"`
}

// ACLConfig is access control (docs/acl.md). Every server of a cluster
// must agree on it: a node enforces what its own config says.
type ACLConfig struct {
	// Enabled makes every API request (except health) present a token
	// whose policies grant what it does.
	Enabled bool `yaml:"enabled"`
	// DefaultPolicy decides a name no rule of the token matches: deny (the
	// default) or allow.
	DefaultPolicy string `yaml:"default_policy"`
}

// DNSConfig is the DNS interface (docs/dns.md): a read-only view of the
// registry's passing instances, NAME.service.DOMAIN, on UDP and TCP. It
// is unauthenticated, like Consul's.
type DNSConfig struct {
	// BindAddr is ip:port; "" (the default) keeps the DNS interface off.
	BindAddr string `yaml:"bind_addr"`
	// Domain is the FQDN the interface answers for ("conclave.");
	// anything outside it is refused (no recursion).
	Domain string `yaml:"domain"`
	// TTL of the records; 0 (the default, as in Consul) makes resolvers
	// ask every time, so a failed instance drops out at once.
	TTL Duration `yaml:"ttl"`
	// AllowUnauthenticated lets the DNS interface listen on an address
	// other than loopback while ACLs are on: DNS carries no token, so it
	// would reveal every service to anyone who reaches the port.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
}

// Enabled reports whether the DNS interface is configured to run.
func (d DNSConfig) Enabled() bool { return d.BindAddr != "" }

// TLSConfig is this node's TLS identity. When set, the internode mesh is
// mutual TLS (every peer presents a node certificate of the CA whose node
// URI equals the node name it claims), and the gRPC and HTTP APIs serve TLS.
type TLSConfig struct {
	// CAFile holds the cluster CA certificate(s), PEM; several while a CA
	// is rotated. Replaced files are picked up without a restart.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are this node's certificate and key, PEM, made by
	// `conclave tls cert create --node NAME` (the certificate names the node).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// VerifyIncoming requires gRPC and HTTP clients to present a certificate
	// of the CA (mutual TLS on the APIs too). The mesh always requires one.
	VerifyIncoming bool `yaml:"verify_incoming"`
}

// Enabled reports whether a TLS identity is configured.
func (t TLSConfig) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// ClusterConfig is the node's identity, storage and the three subsystems that
// talk to other nodes.
type ClusterConfig struct {
	// Enabled false runs the API on a node that never joins anyone.
	Enabled bool `yaml:"enabled"`
	// Name is the memberlist name and the Raft server ID; it must be unique
	// among live nodes and stable across restarts (Raft state is keyed by it).
	Name string `yaml:"name"`
	// FailureDomain (zone, rack) spreads voters: the reconciler takes one
	// voter per distinct domain before doubling up. "" is one shared domain.
	FailureDomain string `yaml:"failure_domain"`
	// DataDir holds Raft state under <data_dir>/_sys/raft.
	DataDir    string           `yaml:"data_dir"`
	Membership MembershipConfig `yaml:"membership"`
	Internode  InternodeConfig  `yaml:"internode"`
	Raft       RaftConfig       `yaml:"raft"`
	Groups     GroupsConfig     `yaml:"groups"`
	Names      NamesConfig      `yaml:"names"`
	EventualKV EventualKVConfig `yaml:"eventual_kv"`
	Health     HealthConfig     `yaml:"health"`
}

// HealthConfig holds the operator's thresholds of the readiness checks
// raft_lag and disk_free (docs/operations.md#health-checks).
type HealthConfig struct {
	// MaxLagEntries: a Raft follower whose applied index trails the commit
	// index it knows by more than this is not ready.
	MaxLagEntries int `yaml:"max_lag_entries"`
	// MaxLagTime: a Raft follower without leader contact for longer than
	// this is not ready.
	MaxLagTime Duration `yaml:"max_lag_time"`
	// MinDiskFreeBytes: with less free on the filesystem holding data_dir
	// the node is not ready; below twice this it warns. 0 turns it off.
	MinDiskFreeBytes int `yaml:"min_disk_free_bytes"`
}

// NamesConfig tunes cluster-wide names (DESIGN §8).
type NamesConfig struct {
	// StrongDeadline is how long a strong registration waits for every
	// live node's acknowledgement before its reservation expires.
	StrongDeadline Duration `yaml:"strong_deadline"`
}

// EventualKVConfig bounds the eventual KV store (docs/eventual-kv.md),
// each node's own.
type EventualKVConfig struct {
	// MaxValueBytes is the largest value; a larger local write is refused,
	// a peer's dropped and counted.
	MaxValueBytes int `yaml:"max_value_bytes"`
	// MaxStoreBytes bounds the whole store (keys, values, tombstones and a
	// per-key overhead).
	MaxStoreBytes int `yaml:"max_store_bytes"`
	// TombstoneTTL is how long a delete is remembered; a node cut off for
	// longer may bring the deleted value back.
	TombstoneTTL Duration `yaml:"tombstone_ttl"`
}

// MembershipConfig configures gossip (memberlist, TCP and UDP on one port).
type MembershipConfig struct {
	// BindAddr is an IP literal: memberlist cannot bind a host name.
	BindAddr string `yaml:"bind_addr"`
	// BindPort 0 picks an ephemeral port (tests, --dev).
	BindPort int `yaml:"bind_port"`
	// AdvertiseAddr "" lets memberlist pick a private address of the host.
	AdvertiseAddr string `yaml:"advertise_addr"`
	// AdvertisePort 0 advertises the bound port.
	AdvertisePort int `yaml:"advertise_port"`
	// JoinAddrs are seeds, "host" or "host:port"; a bare host uses this
	// node's bind port, and a DNS name stands for all its addresses.
	JoinAddrs StringList `yaml:"join_addrs"`
	// SecretFile names a file holding the base64 gossip key; read at start
	// so the key stays out of the config file.
	SecretFile string `yaml:"secret_file"`
	// Secret is the base64 gossip key inline (16, 24 or 32 bytes: AES-128,
	// -192 or -256). Exclusive with SecretFile.
	Secret string `yaml:"secret"`
	// Discover adds addresses from an inventory (DNS or a file) to the
	// seeds, re-read at an interval (docs/discovery.md).
	Discover DiscoverConfig `yaml:"discover"`
	// AllowOnlyInventory refuses gossip members whose address is not in
	// the inventory this node resolved; needs discover.dns or
	// discover.file.
	AllowOnlyInventory bool `yaml:"allow_only_inventory"`
}

// DiscoverConfig is the inventory of addresses gossip joins from: a DNS
// name, a file, or both (the union).
type DiscoverConfig struct {
	// DNS is a name whose A, AAAA and SRV records are the inventory: SRV
	// records give their port, A and AAAA records the gossip bind_port.
	DNS string `yaml:"dns"`
	// File holds one address per line (host or host:port; # comments and
	// blank lines ignored), re-read when it changes.
	File string `yaml:"file"`
	// Interval is how often the inventory is resolved again.
	Interval Duration `yaml:"interval"`
}

// Enabled reports whether an inventory source is configured.
func (d DiscoverConfig) Enabled() bool { return d.DNS != "" || d.File != "" }

// EphemeralPort as cluster.internode.bind_port binds an ephemeral port at
// once, skipping the auto range 7950-7959 that port 0 tries first.
const EphemeralPort = -1

// InternodeConfig configures the node-to-node mesh (Raft RPC, forwarding,
// process groups), a single TCP port advertised in gossip.
type InternodeConfig struct {
	// BindAddr "" means the same address as membership.bind_addr; see
	// ClusterConfig.InternodeBindAddr.
	BindAddr string `yaml:"bind_addr"`
	// BindPort 0 takes the first free port of 7950-7959, then an ephemeral
	// one; peers learn it from gossip, so it need not be fixed.
	// EphemeralPort (-1) skips the range and binds an ephemeral port at
	// once: agents that share a host and restart on the port they had
	// (test clusters) then never hand each other a port of the range.
	BindPort int `yaml:"bind_port"`
	// AdvertiseAddr "" advertises the address gossip advertises.
	AdvertiseAddr string `yaml:"advertise_addr"`
}

// RaftConfig shapes this node's part in the bounded Raft core (DESIGN §4, §5).
type RaftConfig struct {
	// BootstrapExpect: 0 never self-bootstraps, 1 bootstraps alone, N waits
	// for N eligible peers expecting the same N.
	BootstrapExpect int `yaml:"bootstrap_expect"`
	// Role "client" keeps the node out of the Raft configuration for good;
	// "auto" lets the reconciler choose voter, standby or client.
	Role string `yaml:"role"`
	// Eligible false also keeps the node out, but still counts as "auto" for
	// everything else; useful to drain a node without changing its role.
	Eligible bool `yaml:"eligible"`
	// Priority ranks candidates, lower preferred; ties go by name.
	Priority int `yaml:"priority"`
	// MaxVoters is odd so a majority is well defined with no wasted seat.
	MaxVoters int `yaml:"max_voters"`
	// MaxStandbys caps the fully replicated non-voters kept warm for
	// promotion; each costs the leader a replication stream.
	MaxStandbys int `yaml:"max_standbys"`
	// ReconcileDebounce batches a burst of membership events into one plan.
	ReconcileDebounce Duration `yaml:"reconcile_debounce"`
	// Stabilization is how long a node must be seen alive before it may
	// join the core as a standby, and alive and caught up before a standby
	// may be promoted, so a flapping node does not churn the voter set.
	Stabilization Duration `yaml:"stabilization"`
	// Admission "auto" lets any eligible node that gossips with the
	// cluster join the core; "manual" keeps a new server a client until
	// an operator runs `conclave operator admit NODE`. The leader's
	// setting is the one that counts.
	Admission string `yaml:"admission"`
	// LogStore is where this node keeps the Raft log: "wal" (segment files
	// under wal/, one sync per append) or "bolt" (raft.db, beside the
	// stable store, two). A data dir whose log holds entries keeps the
	// store it was made with; the agent refuses to start it with the other.
	LogStore string `yaml:"log_store"`
	// SnapshotThreshold is how many log entries since the last snapshot
	// make the node take a new one; SnapshotInterval is how often it
	// checks. TrailingLogs entries stay in the log after a snapshot, so a
	// follower that lags by fewer catches up from the log instead of a
	// whole snapshot.
	SnapshotThreshold int      `yaml:"snapshot_threshold"`
	SnapshotInterval  Duration `yaml:"snapshot_interval"`
	TrailingLogs      int      `yaml:"trailing_logs"`
}

// GroupsConfig tunes process groups (DESIGN §9): replicated without Raft
// over the internode mesh.
type GroupsConfig struct {
	// MaxPayloadBytes is the largest broadcast payload; bigger ones are
	// refused with InvalidArgument.
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// AntiEntropyInterval is how often each node compares membership
	// versions with every peer and repairs a difference with a full sync.
	AntiEntropyInterval Duration `yaml:"anti_entropy_interval"`
	// HeartbeatInterval is how often each node broadcasts a beat to the
	// internal heartbeat group (the liveness check watches it).
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
}

// APIConfig gives the listen addresses of the application-facing servers.
type APIConfig struct {
	// GRPCAddr is host:port of the gRPC API. Loopback by default: exposing
	// it is a deliberate operator decision while there are no ACLs.
	GRPCAddr string `yaml:"grpc_addr"`
	// HTTPAddr is host:port of metrics, health, REST and the status page.
	HTTPAddr string `yaml:"http_addr"`
	// HTTPAllowedHosts are extra names (no port) that a mutating HTTP
	// request may carry in its Host header while http_addr is loopback;
	// localhost and loopback IPs are always allowed. Any other name is
	// refused with 403: that is how a DNS-rebinding web page would arrive.
	HTTPAllowedHosts StringList `yaml:"http_allowed_hosts"`
}

// LogConfig selects the zerolog level and output format.
type LogConfig struct {
	// Level is one of debug, info, warn, error.
	Level string `yaml:"level"`
	// Format json writes one object per line; console is for humans (--dev).
	Format string `yaml:"format"`
}

// Default ports and addresses (DESIGN §11).
const (
	DefaultGossipPort = 7946
	DefaultGRPCAddr   = "127.0.0.1:7940"
	DefaultHTTPAddr   = "127.0.0.1:7941"
	DefaultDataDir    = "/var/lib/conclave"
	DefaultDNSDomain  = "conclave."
	// fallbackName is the node name when the host name cannot be read.
	fallbackName = "conclave"
	// devName is Dev's node name: fixed, so a --dev node's identity and logs
	// do not depend on the machine, and a --dev node never meets another.
	devName = "dev"
)

// LogStore values for RaftConfig.LogStore.
const (
	LogStoreBolt = "bolt"
	LogStoreWAL  = "wal"
)

// Role values for RaftConfig.Role.
const (
	RoleAuto   = "auto"
	RoleClient = "client"
)

// Admission values for RaftConfig.Admission.
const (
	AdmissionAuto   = "auto"
	AdmissionManual = "manual"
)

// Default returns a production configuration with every field set: what a
// file that sets nothing means. Name is the host name ("conclave" if it
// cannot be read).
func Default() Config {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = fallbackName
	}
	return Config{
		Cluster: ClusterConfig{
			Enabled:       true,
			Name:          name,
			FailureDomain: "",
			DataDir:       DefaultDataDir,
			Membership: MembershipConfig{
				BindAddr: "0.0.0.0",
				BindPort: DefaultGossipPort,
				// Like Serf's retry_join re-resolution: an inventory that
				// changes is seen within half a minute, without hammering DNS.
				Discover: DiscoverConfig{Interval: Duration(30 * time.Second)},
			},
			Internode: InternodeConfig{
				// "" follows membership.bind_addr, so moving gossip to one
				// interface moves the mesh with it.
				BindAddr: "",
				BindPort: 0,
			},
			Raft: RaftConfig{
				BootstrapExpect:   0, // join only: never form a cluster by accident
				Role:              RoleAuto,
				Eligible:          true,
				Priority:          100, // room either side to prefer or avoid nodes
				MaxVoters:         5,   // tolerates two failures
				MaxStandbys:       4,
				ReconcileDebounce: Duration(2 * time.Second),
				Stabilization:     Duration(10 * time.Second),
				Admission:         AdmissionAuto,
				LogStore:          LogStoreWAL,               // one sync per append; see docs/raft-core.md
				SnapshotThreshold: 8192,                      // hashicorp/raft's default
				SnapshotInterval:  Duration(2 * time.Minute), // checked that often, with jitter
				TrailingLogs:      10240,                     // hashicorp/raft's default
			},
			Names: NamesConfig{StrongDeadline: Duration(5 * time.Second)},
			EventualKV: EventualKVConfig{
				MaxValueBytes: 64 << 10,
				MaxStoreBytes: 16 << 20,
				TombstoneTTL:  Duration(time.Hour),
			},
			Health: HealthConfig{
				MaxLagEntries: 5000,
				MaxLagTime:    Duration(10 * time.Second),
				// 64 MiB: catches a full disk before Raft's writes fail,
				// without making a test machine's nodes unready.
				MinDiskFreeBytes: 64 << 20,
			},
			Groups: GroupsConfig{
				MaxPayloadBytes:     1 << 20, // 1 MiB: a message, not a file transfer
				AntiEntropyInterval: Duration(30 * time.Second),
				HeartbeatInterval:   Duration(5 * time.Second),
			},
		},
		API: APIConfig{
			GRPCAddr: DefaultGRPCAddr,
			HTTPAddr: DefaultHTTPAddr,
		},
		Log: LogConfig{
			Level:  "info",
			Format: "json",
		},
		ACL: ACLConfig{DefaultPolicy: "deny"},
		DNS: DNSConfig{BindAddr: "", Domain: DefaultDNSDomain, TTL: 0},
	}
}

// Dev returns the configuration of `conclave agent --dev`: a single node named
// "dev" that bootstraps alone, with loopback listeners, an ephemeral gossip
// port and console logs. DataDir is "": the caller creates a throwaway
// directory and sets it before Validate.
func Dev() Config {
	c := Default()
	c.Cluster.Name = devName
	c.Cluster.DataDir = ""
	c.Cluster.Membership.BindAddr = "127.0.0.1"
	c.Cluster.Membership.BindPort = 0
	c.Cluster.Internode.BindAddr = "127.0.0.1"
	c.Cluster.Raft.BootstrapExpect = 1
	c.API.GRPCAddr = DefaultGRPCAddr
	c.API.HTTPAddr = DefaultHTTPAddr
	c.Log.Format = "console"
	return c
}

// InternodeBindAddr is the address the mesh listens on: internode.bind_addr,
// or membership.bind_addr when that is "".
func (c ClusterConfig) InternodeBindAddr() string {
	if c.Internode.BindAddr != "" {
		return c.Internode.BindAddr
	}
	return c.Membership.BindAddr
}
