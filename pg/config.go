package pg

import (
	"fmt"
	"time"
)

// MaxPayloadLimit is the highest MaxPayload allowed: a broadcast travels in
// one internode frame, whose default limit is 4 MiB, with its header.
const MaxPayloadLimit = 3 << 20

// Config tunes a Service. cluster maps the cluster.groups section onto it.
type Config struct {
	// MaxPayload is the largest broadcast payload in bytes; larger ones
	// are refused with ErrInvalid.
	MaxPayload int
	// AntiEntropyInterval is how often the node compares versions with
	// every peer and repairs a difference with a full sync. Deltas and the
	// sync on a peer's arrival do the normal work; this only catches what
	// they lost, so it may be slow.
	AntiEntropyInterval time.Duration
	// HeartbeatInterval is how often the node broadcasts a beat to the
	// heartbeat group, and how often it reconciles its peer links with the
	// gossip view (a backstop for missed gossip events).
	HeartbeatInterval time.Duration
	// RequestTimeout bounds one sync, delta or digest request to a peer
	// and one broadcast send.
	RequestTimeout time.Duration
	// RetryInterval is the pause before a link retries a peer whose last
	// request failed.
	RetryInterval time.Duration
	// MonitorBuffer is how many events a monitor holds for a slow reader
	// before it ends with ErrMonitorOverflow.
	MonitorBuffer int
	// MaxPending is how many deltas a link queues for a slow peer before it
	// drops them and sends one full sync instead.
	MaxPending int
}

// DefaultConfig returns production settings (DESIGN §9, §14).
func DefaultConfig() Config {
	return Config{
		MaxPayload: 1 << 20, // 1 MiB: a message, not a file transfer
		// DESIGN §14: anti-entropy 30 s. It only repairs losses.
		AntiEntropyInterval: 30 * time.Second,
		// Far below the 5 min heartbeat ceiling of the liveness check, and
		// one tiny message per peer per beat.
		HeartbeatInterval: 5 * time.Second,
		// A LAN round trip takes well under a millisecond; a full sync of
		// thousands of members a few.
		RequestTimeout: 5 * time.Second,
		RetryInterval:  time.Second,
		MonitorBuffer:  1024,
		MaxPending:     4096,
	}
}

// DefaultLocalConfig returns fast timings for tests and in-process clusters.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.AntiEntropyInterval = 500 * time.Millisecond
	c.HeartbeatInterval = 100 * time.Millisecond
	c.RequestTimeout = 2 * time.Second
	c.RetryInterval = 100 * time.Millisecond
	return c
}

// Validate reports the first problem with c, naming the field. It never
// mutates c.
func (c Config) Validate() error {
	switch {
	case c.MaxPayload < 1 || c.MaxPayload > MaxPayloadLimit:
		return fmt.Errorf("%w: MaxPayload %d must be between 1 and %d", ErrInvalidConfig, c.MaxPayload, MaxPayloadLimit)
	case c.AntiEntropyInterval <= 0:
		return fmt.Errorf("%w: AntiEntropyInterval %s must be positive", ErrInvalidConfig, c.AntiEntropyInterval)
	case c.HeartbeatInterval <= 0:
		return fmt.Errorf("%w: HeartbeatInterval %s must be positive", ErrInvalidConfig, c.HeartbeatInterval)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("%w: RequestTimeout %s must be positive", ErrInvalidConfig, c.RequestTimeout)
	case c.RetryInterval <= 0:
		return fmt.Errorf("%w: RetryInterval %s must be positive", ErrInvalidConfig, c.RetryInterval)
	case c.MonitorBuffer < 1:
		return fmt.Errorf("%w: MonitorBuffer %d must be at least 1", ErrInvalidConfig, c.MonitorBuffer)
	case c.MaxPending < 1:
		return fmt.Errorf("%w: MaxPending %d must be at least 1", ErrInvalidConfig, c.MaxPending)
	}
	return nil
}
