package gossip

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Membership. The timing fields map one to one onto
// memberlist's knobs of the same name.
type Config struct {
	// Name is the memberlist node name and the Raft server ID (DESIGN §3).
	Name string
	// BindAddr is the IP the gossip TCP and UDP listeners bind to.
	BindAddr string
	// BindPort is the gossip port; 0 picks an ephemeral one (tests).
	BindPort int
	// AdvertiseAddr is the IP peers should use; "" lets memberlist pick (the
	// bound IP, or a private IP when bound to 0.0.0.0).
	AdvertiseAddr string
	// AdvertisePort is the port peers should use; 0 means the bound port.
	AdvertisePort int
	// JoinAddrs are host:port seeds. DNS names resolve to all their addresses
	// (memberlist does this on every attempt, so a seed list behind DNS can
	// change while we retry).
	JoinAddrs []string
	// Keys is the gossip encryption keyring (16, 24 or 32 bytes each); the
	// first is the primary used to encrypt, all are tried to decrypt. Empty
	// disables encryption, unless KeyringFile holds keys. Encryption is on
	// or off for the life of the Membership: memberlist cannot switch it at
	// runtime, so a keyring can only be rotated on a node started with one.
	Keys [][]byte
	// KeyringFile, if set, persists the keyring across restarts (the
	// agent's <data_dir>/_sys/gossip.keyring). When the file exists at New
	// it wins over Keys (so a rotated key survives a restart); when it does
	// not and Keys is set, New writes Keys there. Every keyring change
	// rewrites it. "" keeps the keyring in memory only.
	KeyringFile string

	// ProbeInterval: how often one random peer is probed for failure detection.
	ProbeInterval time.Duration
	// ProbeTimeout: how long to wait for a probe's ack before asking peers to
	// probe indirectly. Must be below ProbeInterval.
	ProbeTimeout time.Duration
	// GossipInterval: how often queued broadcasts are sent to GossipNodes peers.
	GossipInterval time.Duration
	// PushPullInterval: how often a full state exchange with one random peer
	// repairs anything gossip missed.
	PushPullInterval time.Duration
	// DeadNodeReclaimTime: after this long dead, a node's name may come back
	// from a different address (a restarted pod with a new IP, memberlist#157).
	DeadNodeReclaimTime time.Duration
	// TCPTimeout bounds a stream exchange (join, push/pull, TCP fallback ping).
	TCPTimeout time.Duration
	// SuspicionMult: a suspect is declared dead after
	// SuspicionMult * log10(max(N,1)) * ProbeInterval.
	SuspicionMult int
	// GossipNodes: peers each gossip round is sent to.
	GossipNodes int

	// RetryJoinMin and RetryJoinMax bound the exponential backoff of the
	// initial join.
	RetryJoinMin, RetryJoinMax time.Duration
	// RejoinInterval: how often Run tries to reconnect to members that
	// failed (not left), and, while this node sees no other live member, to
	// the seeds. It is what merges a healed partition back together
	// (Serf's reconnect_interval). 0 disables both.
	RejoinInterval time.Duration
	// ForgetDeadAfter: dead and left members stay in the view (for status
	// output) this long after they went, then are dropped.
	ForgetDeadAfter time.Duration

	// DiscoverDNS is a name whose SRV records (at their ports) and A and
	// AAAA records (at the bound gossip port) are the inventory; "" for
	// none. DiscoverFile is a file of host[:port] lines, re-read when it
	// changes; "" for none. Run joins the inventory's addresses and
	// resolves both again every DiscoverInterval (docs/discovery.md).
	DiscoverDNS, DiscoverFile string
	DiscoverInterval          time.Duration
	// AllowOnlyInventory refuses members whose address is not in the
	// inventory this node resolved. Needs DiscoverDNS or DiscoverFile.
	AllowOnlyInventory bool
}

// DefaultConfig returns the LAN values of DESIGN §14.
func DefaultConfig() Config {
	name, _ := os.Hostname() // DESIGN §3: the node name defaults to the hostname
	return Config{
		Name:                name,
		BindAddr:            "0.0.0.0",
		BindPort:            7946, // DESIGN §11
		AdvertiseAddr:       "",
		AdvertisePort:       0,
		ProbeInterval:       time.Second,            // a failure check every second
		ProbeTimeout:        500 * time.Millisecond, // a reasonable LAN round trip, with room
		GossipInterval:      200 * time.Millisecond, // spread news quickly
		PushPullInterval:    30 * time.Second,       // full sync is expensive: rarely
		DeadNodeReclaimTime: time.Second,            // > 0: a node back on a new IP is accepted a second after its old address is declared dead
		TCPTimeout:          10 * time.Second,       // memberlist's LAN value
		SuspicionMult:       4,                      // suspect for 4 * log(N+1) probe intervals
		GossipNodes:         3,                      // each round reaches 3 peers
		RetryJoinMin:        time.Second,            // first retry soon: seeds often start together
		RetryJoinMax:        30 * time.Second,       // then no more than twice a minute
		RejoinInterval:      30 * time.Second,       // isolation is rare; retry as often as push/pull
		ForgetDeadAfter:     24 * time.Hour,         // like Serf's tombstone timeout
		DiscoverInterval:    30 * time.Second,       // as often as rejoin: inventories change rarely
	}
}

// DefaultLocalConfig returns fast timings for in-process tests on 127.0.0.1:
// a killed node is declared dead in one to two seconds.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	// Probes leave room for a node starved by the race detector and a
	// second test run on 2 cores (at 200/100 ms, live nodes were declared
	// failed and rejoined all through the 12-node test).
	c.ProbeInterval = 400 * time.Millisecond
	c.ProbeTimeout = 200 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.DeadNodeReclaimTime = time.Second
	c.TCPTimeout = time.Second
	c.SuspicionMult = 2
	c.GossipNodes = 3
	c.RetryJoinMin = 20 * time.Millisecond
	c.RetryJoinMax = 200 * time.Millisecond
	c.RejoinInterval = 200 * time.Millisecond
	c.ForgetDeadAfter = 30 * time.Second
	c.DiscoverInterval = 100 * time.Millisecond
	return c
}

// Validate checks ranges and cross-field rules. It never mutates c.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return bad("Name", "must not be empty")
	}
	if net.ParseIP(c.BindAddr) == nil {
		return bad("BindAddr", "%q is not an IP address", c.BindAddr)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return bad("BindPort", "%d out of range 0-65535", c.BindPort)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return bad("AdvertiseAddr", "%q is not an IP address", c.AdvertiseAddr)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return bad("AdvertisePort", "%d out of range 0-65535", c.AdvertisePort)
	}
	for i, a := range c.JoinAddrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return bad(fmt.Sprintf("JoinAddrs[%d]", i), "%q is not host:port", a)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return bad(fmt.Sprintf("JoinAddrs[%d]", i), "%q has a bad port", a)
		}
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return bad(fmt.Sprintf("Keys[%d]", i), "%d bytes: must be 16, 24 or 32", len(k))
		}
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout},
		{"GossipInterval", c.GossipInterval},
		{"PushPullInterval", c.PushPullInterval},
		{"DeadNodeReclaimTime", c.DeadNodeReclaimTime},
		{"TCPTimeout", c.TCPTimeout},
		{"RetryJoinMin", c.RetryJoinMin},
		{"RetryJoinMax", c.RetryJoinMax},
		{"ForgetDeadAfter", c.ForgetDeadAfter},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return bad(p.name, "%v must be > 0", p.d)
		}
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		return bad("ProbeTimeout", "%v must be below ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.RetryJoinMax < c.RetryJoinMin {
		return bad("RetryJoinMax", "%v must be >= RetryJoinMin %v", c.RetryJoinMax, c.RetryJoinMin)
	}
	if c.RejoinInterval < 0 {
		return bad("RejoinInterval", "%v must be >= 0 (0 disables)", c.RejoinInterval)
	}
	if c.SuspicionMult < 1 {
		return bad("SuspicionMult", "%d must be >= 1", c.SuspicionMult)
	}
	if c.GossipNodes < 1 {
		return bad("GossipNodes", "%d must be >= 1", c.GossipNodes)
	}
	discovering := c.DiscoverDNS != "" || c.DiscoverFile != ""
	if discovering && c.DiscoverInterval <= 0 {
		return bad("DiscoverInterval", "%v must be > 0", c.DiscoverInterval)
	}
	if c.AllowOnlyInventory && !discovering {
		return bad("AllowOnlyInventory", "needs DiscoverDNS or DiscoverFile")
	}
	return nil
}

// memberlistConfig maps c onto memberlist's config. Transport, delegates and
// the logger are filled in by New.
func (c Config) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.GossipInterval = c.GossipInterval
	mc.PushPullInterval = c.PushPullInterval
	// Keep telling the dead they are dead for as long as a push/pull cycle, so
	// a node that comes back learns quickly (memberlist's own choice).
	mc.GossipToTheDeadTime = c.PushPullInterval
	mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	mc.TCPTimeout = c.TCPTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipNodes = c.GossipNodes
	return mc
}
