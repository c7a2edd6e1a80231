package kv

import (
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Eventual-store gossip messages: a kind byte (a delta or a push/pull
// state; chosen apart from the eventual-name kinds 1 and 2, which share
// gossip's user-message path), a count, then per version: key, origin,
// HLC wall (uvarint of the nanoseconds), HLC logical, deleted, value.
const (
	msgEventualDelta = 0x11
	msgEventualState = 0x12
	// maxEventualVersions bounds what one message may make us allocate,
	// on top of the byte-length checks.
	maxEventualVersions = 1 << 20
	// maxWireValue is the largest value a message may carry at all; values
	// over the configured MaxValueBytes but under this are dropped and
	// counted, larger ones make the message malformed.
	maxWireValue = 16 << 20
)

// IsEventualMessage reports whether a gossip user message or push/pull
// state is the eventual store's (by its kind byte).
func IsEventualMessage(msg []byte) bool {
	return len(msg) > 0 && (msg[0] == msgEventualDelta || msg[0] == msgEventualState)
}

func encodeEventual(kind byte, rs []*reg) []byte {
	w := wire.NewEncoder(kind)
	w.Uvarint(uint64(len(rs)))
	for _, r := range rs {
		w.String(r.Key)
		w.String(r.Origin)
		w.Uvarint(uint64(r.Clock.Wall))
		w.Uvarint(uint64(r.Clock.Logical))
		w.Bool(r.Deleted)
		w.Bytes(r.Value)
	}
	return w.Data()
}

func decodeEventual(msg []byte) (byte, []*reg, error) {
	d := wire.NewDecoder(msg)
	kind := d.Byte()
	if d.Err() == nil && kind != msgEventualDelta && kind != msgEventualState {
		return 0, nil, fmt.Errorf("%w: eventual message kind %d", wire.ErrMalformed, kind)
	}
	n := d.Count(4)
	if n > maxEventualVersions {
		return 0, nil, fmt.Errorf("%w: %d versions", wire.ErrMalformed, n)
	}
	out := make([]*reg, 0, n)
	seen := make(map[string]bool, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		r := &reg{}
		r.Key = d.StringMax(MaxKeyBytes)
		r.Origin = d.StringMax(wire.MaxPIDLen)
		wall := d.Uvarint()
		logical := d.Uvarint()
		r.Deleted = d.Bool()
		r.Value = d.BytesMax(maxWireValue)
		if d.Err() != nil {
			break
		}
		if wall > 1<<63-1 || logical > 1<<32-1 {
			return 0, nil, fmt.Errorf("%w: key %q: clock out of range", wire.ErrMalformed, r.Key)
		}
		r.Clock = HLC{Wall: int64(wall), Logical: uint32(logical)}
		if err := ValidKey("key", r.Key, true); err != nil {
			return 0, nil, fmt.Errorf("%w: %v", wire.ErrMalformed, err)
		}
		if err := wire.ValidateNode("origin", r.Origin); err != nil {
			return 0, nil, fmt.Errorf("%w: %v", wire.ErrMalformed, err)
		}
		if r.Deleted && len(r.Value) > 0 {
			return 0, nil, fmt.Errorf("%w: key %q: a tombstone with a value", wire.ErrMalformed, r.Key)
		}
		if seen[r.Key] {
			return 0, nil, fmt.Errorf("%w: key %q twice", wire.ErrMalformed, r.Key)
		}
		seen[r.Key] = true
		out = append(out, r)
	}
	if err := d.Done(); err != nil {
		return 0, nil, err
	}
	return kind, out, nil
}
