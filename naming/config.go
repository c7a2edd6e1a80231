package naming

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the Service. The limits of names themselves are constants
// (they are rules of the replicated table), not configuration.
type Config struct {
	// StrongDeadline is how long a strong registration waits for every
	// live node's acknowledgement (cluster.names.strong_deadline).
	StrongDeadline time.Duration
	// TombstoneTTL keeps an eventual tombstone long enough for every
	// push/pull partner to have seen it (a push/pull every 30 s reaches
	// everyone in a few rounds), so a late copy of the claim it deletes
	// cannot resurrect it.
	TombstoneTTL time.Duration
	// CompactInterval is how often, at most, Compact forgets old
	// tombstones.
	CompactInterval time.Duration
	// MaxBroadcast is the largest eventual delta piggybacked on gossip
	// (gossip.MaxBroadcast); larger ones are sent to every member by Run.
	MaxBroadcast int
	// LargeDeltaQueue is how many large deltas may wait for Run; beyond
	// it they are dropped (push/pull carries them later).
	LargeDeltaQueue int
	// AckRetry spaces the asks of a peer whose link failed, within the
	// strong deadline: a refused dial or a dropped link may heal.
	AckRetry time.Duration
	// AgainPace spaces the proposals of a command of unknown outcome.
	AgainPace time.Duration
	// WatchBuffer is how many events a watch may fall behind before it is
	// ended (the watcher must list and watch again).
	WatchBuffer int
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		StrongDeadline:  5 * time.Second,
		TombstoneTTL:    10 * time.Minute,
		CompactInterval: time.Minute,
		MaxBroadcast:    1000, // a gossip packet carries about 1,400 bytes with memberlist's framing
		LargeDeltaQueue: 64,
		AckRetry:        100 * time.Millisecond,
		AgainPace:       50 * time.Millisecond,
		WatchBuffer:     1024,
	}
}

// Validate checks every field is positive.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"strong_deadline", c.StrongDeadline > 0},
		{"tombstone_ttl", c.TombstoneTTL > 0},
		{"compact_interval", c.CompactInterval > 0},
		{"max_broadcast", c.MaxBroadcast > 0},
		{"large_delta_queue", c.LargeDeltaQueue > 0},
		{"ack_retry", c.AckRetry > 0},
		{"again_pace", c.AgainPace > 0},
		{"watch_buffer", c.WatchBuffer > 0},
	} {
		if !f.ok {
			errs = append(errs, fmt.Errorf("naming: config %s: must be positive", f.name))
		}
	}
	return errors.Join(errs...)
}
