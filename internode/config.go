package internode

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is the mesh's configuration. cluster maps config's
// cluster.internode section onto it.
type Config struct {
	// BindAddr is the IP the listener binds, "0.0.0.0" for every interface.
	BindAddr string
	// BindPort is the TCP port to bind. 0 takes the first free port of
	// PortMin..PortMax, then an ephemeral one: peers learn the port from
	// gossip, so it need not be fixed, and a small known range keeps
	// firewall rules possible when several agents share a host.
	BindPort int
	// PortMin and PortMax bound the auto-port range, inclusive. Both 0
	// skips the range and binds an ephemeral port at once.
	PortMin, PortMax int
	// AdvertiseAddr is the host (IP or DNS name, no port) peers dial. ""
	// derives it: BindAddr unless that is unspecified, else the first
	// private IPv4 of an up, non-loopback interface, else any such IPv4.
	AdvertiseAddr string
	// DialTimeout bounds a TCP dial, the TLS handshake (with WithTLS) and
	// the preamble write, each; and how long an accepted connection may
	// take to complete its handshake and deliver its preamble.
	DialTimeout time.Duration
	// MaxFrameSize is the largest request or reply payload, in bytes, this
	// node sends or accepts. Larger frames are refused and counted; the
	// limit stops a bad length prefix from making us allocate gigabytes.
	MaxFrameSize int
	// KeepAliveInterval is yamux's ping interval on every session; a
	// failed ping closes the session, so a silently dead peer is noticed
	// within about this long even when no traffic flows.
	KeepAliveInterval time.Duration
	// StreamIdleTimeout bounds how long an accepted stream may take to send
	// its class byte and request frame, how long a reply write may stall,
	// how long a stream waits for its StreamLayer to Accept it, and how
	// long a stream we closed waits for the peer's close before yamux
	// resets it. It keeps a silent or stuck peer from pinning goroutines.
	StreamIdleTimeout time.Duration
	// MaxStreamsPerPeer caps the streams one peer has served at once,
	// across its sessions; further streams wait, unaccepted, in yamux's
	// accept backlog (also this size, per session), and the peer's opens
	// block beyond it. With yamux's 256 KiB stream window it bounds what a
	// peer's streams can make us buffer in yamux.
	MaxStreamsPerPeer int
	// PeerBufferBytes caps the request-frame bytes one peer's streams hold
	// at once, from the length prefix until the handler returns. A frame
	// is reserved in full before its body is read; a stream that cannot
	// get its bytes before its StreamIdleTimeout deadline is refused
	// (RejectLimit). It must be at least MaxFrameSize.
	PeerBufferBytes int
}

// yamuxWindow is yamux's per-stream receive window: its minimum (and
// default) MaxStreamWindowSize. A stream buffers at most this much in yamux.
const yamuxWindow = 256 << 10

// DefaultConfig returns production settings (DESIGN §10, §11).
func DefaultConfig() Config {
	return Config{
		BindAddr: "0.0.0.0",
		BindPort: 0,
		PortMin:  7950, // DESIGN §11: the mesh's auto range
		PortMax:  7959,
		// Derived from the interfaces when empty.
		AdvertiseAddr: "",
		// A LAN dial takes well under a millisecond; 2 s only matters for an
		// unreachable peer, and raft retries on its own schedule.
		DialTimeout: 2 * time.Second,
		// Large enough for a Raft snapshot chunk or a big forwarded batch;
		// Raft itself streams over ClassRaft without this limit.
		MaxFrameSize: 4 << 20,
		// yamux's default is 30 s; 10 s notices a half-open TCP connection
		// (peer host gone, no RST) well before a lock session TTL matters.
		KeepAliveInterval: 10 * time.Second,
		// Far above any honest request's transfer time on a LAN.
		StreamIdleTimeout: 10 * time.Second,
		// 64 streams in flight per peer is far above what one node's
		// forwarding, acks and group traffic use at once (each request
		// holds a stream for one round trip), and bounds a peer's yamux
		// buffers to (64 served + 2 sessions x 64 waiting) x 256 KiB =
		// 48 MiB in the worst case.
		MaxStreamsPerPeer: 64,
		// Two maximal frames at once; honest requests are small (the API
		// caps values at 512 KiB) and wait, not fail, when it is full.
		PeerBufferBytes: 8 << 20,
	}
}

// DefaultLocalConfig returns settings for tests and --dev: loopback, an
// ephemeral port, and short timings so that failures show quickly.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1"
	c.PortMin, c.PortMax = 0, 0
	c.DialTimeout = time.Second
	c.KeepAliveInterval = time.Second
	c.StreamIdleTimeout = 2 * time.Second
	return c
}

// Validate reports the first problem with c, naming the field. It never
// mutates c.
func (c Config) Validate() error {
	if c.BindAddr == "" || net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("%w: BindAddr %q is not an IP address", ErrInvalidConfig, c.BindAddr)
	}
	if err := checkPort("BindPort", c.BindPort); err != nil {
		return err
	}
	if err := checkPort("PortMin", c.PortMin); err != nil {
		return err
	}
	if err := checkPort("PortMax", c.PortMax); err != nil {
		return err
	}
	if (c.PortMin == 0) != (c.PortMax == 0) {
		return fmt.Errorf("%w: PortMin %d and PortMax %d must both be set or both be 0",
			ErrInvalidConfig, c.PortMin, c.PortMax)
	}
	if c.PortMin > c.PortMax {
		return fmt.Errorf("%w: PortMin %d is above PortMax %d", ErrInvalidConfig, c.PortMin, c.PortMax)
	}
	if err := checkAdvertise(c.AdvertiseAddr); err != nil {
		return err
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("%w: DialTimeout %v must be positive", ErrInvalidConfig, c.DialTimeout)
	}
	if c.MaxFrameSize <= 0 {
		return fmt.Errorf("%w: MaxFrameSize %d must be positive", ErrInvalidConfig, c.MaxFrameSize)
	}
	if c.KeepAliveInterval <= 0 {
		return fmt.Errorf("%w: KeepAliveInterval %v must be positive", ErrInvalidConfig, c.KeepAliveInterval)
	}
	if c.StreamIdleTimeout <= 0 {
		return fmt.Errorf("%w: StreamIdleTimeout %v must be positive", ErrInvalidConfig, c.StreamIdleTimeout)
	}
	if c.MaxStreamsPerPeer <= 0 {
		return fmt.Errorf("%w: MaxStreamsPerPeer %d must be positive", ErrInvalidConfig, c.MaxStreamsPerPeer)
	}
	if c.PeerBufferBytes < c.MaxFrameSize {
		return fmt.Errorf("%w: PeerBufferBytes %d is below MaxFrameSize %d: a maximal frame could never be read",
			ErrInvalidConfig, c.PeerBufferBytes, c.MaxFrameSize)
	}
	return nil
}

func checkPort(field string, p int) error {
	if p < 0 || p > 65535 {
		return fmt.Errorf("%w: %s %d is outside 0-65535", ErrInvalidConfig, field, p)
	}
	return nil
}

// checkAdvertise accepts "", an IP that peers can dial, or a host name.
// The preamble carries host:port in at most 255 bytes, hence the length cap.
func checkAdvertise(a string) error {
	if a == "" {
		return nil
	}
	if ip := net.ParseIP(a); ip != nil {
		if ip.IsUnspecified() {
			return fmt.Errorf("%w: AdvertiseAddr %q is unspecified; peers cannot dial it", ErrInvalidConfig, a)
		}
		return nil
	}
	if len(a) > 240 || strings.ContainsAny(a, ":/ \t[]") {
		return fmt.Errorf("%w: AdvertiseAddr %q is neither an IP address nor a host name", ErrInvalidConfig, a)
	}
	return nil
}
