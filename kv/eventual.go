package kv

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The eventual store: a second keyspace, replicated by gossip as a
// state-based CRDT instead of by Raft, so it is read and written on any
// node, with or without a quorum.
//
// Every key is a last-writer-wins register. A write is stamped with the
// writing node's hybrid logical clock (HLC: wall-clock nanoseconds and a
// logical counter, never behind any stamp the node has seen) and the
// node's name; of two versions of a key, the one with the higher (HLC,
// origin) wins, and a tie of both (only after a node restarted with its
// clock behind) is broken by the content, so the order is total. A delete
// writes a tombstone, a version without a value, which wins and loses like
// any write; tombstones are forgotten TombstoneTTL after this node learned
// them. Merging is commutative, associative and idempotent: nodes that
// have seen the same writes hold the same store whatever the order and
// repetition of delivery.

// EventualConfig bounds the eventual store.
type EventualConfig struct {
	// MaxValueBytes is the largest value (default 64 KiB). A local write
	// over it is refused; a peer's is dropped and counted.
	MaxValueBytes int
	// MaxStoreBytes bounds the whole store: keys, values and tombstones,
	// plus EntryOverhead per key (default 16 MiB). A local write that would
	// pass it is refused (ErrStoreFull); a peer's is dropped and counted.
	MaxStoreBytes int
	// TombstoneTTL is how long a delete is remembered (default 1 h). A
	// node cut off for longer may bring the deleted value back.
	TombstoneTTL time.Duration
	// MaxStateBytes bounds one push/pull state (default 1 MiB): a state
	// carries the keys from where the previous one stopped, so a full pass
	// over a store of S bytes takes about S/MaxStateBytes exchanges.
	MaxStateBytes int
}

// DefaultEventualConfig is the documented default.
func DefaultEventualConfig() EventualConfig {
	return EventualConfig{MaxValueBytes: 64 << 10, MaxStoreBytes: 16 << 20, TombstoneTTL: time.Hour, MaxStateBytes: 1 << 20}
}

// EntryOverhead is what a key costs against MaxStoreBytes besides its key
// and value bytes (clock, origin, bookkeeping).
const EntryOverhead = 64

// ErrStoreFull: a local eventual write would pass MaxStoreBytes. It wraps
// wire.ErrTooLarge (gRPC RESOURCE_EXHAUSTED).
var ErrStoreFull = wire.ErrTooLarge

// HLC is a hybrid logical clock stamp: wall-clock nanoseconds and a
// counter that orders stamps within the same nanosecond.
type HLC struct {
	Wall    int64
	Logical uint32
}

// Less orders stamps.
func (c HLC) Less(o HLC) bool {
	if c.Wall != o.Wall {
		return c.Wall < o.Wall
	}
	return c.Logical < o.Logical
}

// Time is the stamp's wall clock.
func (c HLC) Time() time.Time { return time.Unix(0, c.Wall).UTC() }

// EventualEntry is one key of the eventual store as this node holds it.
// Value is the store's own slice: callers read it and do not modify it.
type EventualEntry struct {
	Key     string
	Value   []byte
	Clock   HLC    // the winning write's stamp
	Origin  string // the node that wrote it
	Deleted bool   // a tombstone (Get and List hide them)
}

// reg is a register: the winning version of a key.
type reg struct {
	EventualEntry
	learned time.Time // local clock: when a tombstone was learned
}

func (r *reg) size() int { return len(r.Key) + len(r.Value) + len(r.Origin) + EntryOverhead }

// wins reports whether r beats o: higher clock, then higher origin, then
// the content (a tombstone beats a value, then the larger value).
func (r *reg) wins(o *reg) bool {
	if r.Clock != o.Clock {
		return o.Clock.Less(r.Clock)
	}
	if r.Origin != o.Origin {
		return r.Origin > o.Origin
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return string(r.Value) > string(o.Value)
}

// EventualStats are the counters of the eventual store.
type EventualStats struct {
	Keys, Tombstones, Bytes int
	// Merges counts remote versions that won and were applied.
	Merges uint64
	// Dropped counts remote versions not applied, by reason: "malformed"
	// (the whole message), "value_too_large", "store_full".
	Dropped map[string]uint64
}

// Eventual is the eventual store of one node. Safe for concurrent use.
type Eventual struct {
	self string
	cfg  EventualConfig

	mu     sync.Mutex
	last   HLC // the highest stamp issued or seen
	regs   map[string]*reg
	bytes  int
	cursor string // where the next push/pull state starts
	merges uint64
	drops  map[string]uint64
	// observe, when set, is told the delay from a remote write's stamp to
	// its apply here (the convergence signal).
	observe func(time.Duration)
}

// NewEventual returns node self's empty eventual store. A zero field of
// cfg takes its default.
func NewEventual(self string, cfg EventualConfig) *Eventual {
	d := DefaultEventualConfig()
	if cfg.MaxValueBytes <= 0 {
		cfg.MaxValueBytes = d.MaxValueBytes
	}
	if cfg.MaxStoreBytes <= 0 {
		cfg.MaxStoreBytes = d.MaxStoreBytes
	}
	if cfg.TombstoneTTL <= 0 {
		cfg.TombstoneTTL = d.TombstoneTTL
	}
	if cfg.MaxStateBytes <= 0 {
		cfg.MaxStateBytes = d.MaxStateBytes
	}
	return &Eventual{self: self, cfg: cfg, regs: map[string]*reg{}, drops: map[string]uint64{}}
}

// Config is the store's configuration with defaults filled in.
func (e *Eventual) Config() EventualConfig { return e.cfg }

// SetObserver sets the function told each applied remote write's delay
// (now minus its stamp's wall clock). Call it before use.
func (e *Eventual) SetObserver(f func(time.Duration)) { e.observe = f }

// tickLocked issues a stamp for a local write at now: past every stamp seen.
func (e *Eventual) tickLocked(now time.Time) HLC {
	w := now.UnixNano()
	if w > e.last.Wall {
		e.last = HLC{Wall: w}
	} else {
		e.last.Logical++
	}
	return e.last
}

// Put writes key locally at now and returns the entry and the delta to
// gossip.
func (e *Eventual) Put(now time.Time, key string, value []byte) (EventualEntry, []byte, error) {
	if err := ValidKey("key", key, true); err != nil {
		return EventualEntry{}, nil, err
	}
	if len(value) > e.cfg.MaxValueBytes {
		return EventualEntry{}, nil, wire.Invalidf("value", "%d bytes, the eventual store's limit is %d", len(value), e.cfg.MaxValueBytes)
	}
	return e.write(now, key, value, false)
}

// Delete tombstones key locally at now. ErrNotFound if it holds no value
// here.
func (e *Eventual) Delete(now time.Time, key string) ([]byte, error) {
	if err := ValidKey("key", key, true); err != nil {
		return nil, err
	}
	e.mu.Lock()
	r := e.regs[key]
	e.mu.Unlock()
	if r == nil || r.Deleted {
		return nil, wire.Refuse(wire.NotFound, ErrNotFound, "key %q not found in the eventual store", key)
	}
	_, delta, err := e.write(now, key, nil, true)
	return delta, err
}

func (e *Eventual) write(now time.Time, key string, value []byte, deleted bool) (EventualEntry, []byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &reg{EventualEntry: EventualEntry{Key: key, Value: value, Origin: e.self, Deleted: deleted}}
	if deleted {
		r.learned = now
	}
	grow := r.size()
	if old := e.regs[key]; old != nil {
		grow -= old.size()
	}
	if grow > 0 && e.bytes+grow > e.cfg.MaxStoreBytes {
		return EventualEntry{}, nil, wire.Refuse(wire.Invalid, ErrStoreFull,
			"eventual store full: %d of %d bytes used, the write of %q needs %d more", e.bytes, e.cfg.MaxStoreBytes, key, grow)
	}
	r.Clock = e.tickLocked(now)
	e.regs[key] = r
	e.bytes += grow
	return r.EventualEntry, encodeEventual(msgEventualDelta, []*reg{r}), nil
}

// EventualMerge says what a peer's message changed.
type EventualMerge struct {
	// Applied is how many versions won here.
	Applied int
	// Outgoing is a delta of the versions of a delta that were news here,
	// to pass on (epidemic broadcast), or nil.
	Outgoing []byte
}

// Merge applies a peer's delta or push/pull state at now. A malformed
// message changes nothing and is counted; versions over the limits are
// dropped and counted.
func (e *Eventual) Merge(now time.Time, msg []byte) (EventualMerge, error) {
	kind, regs, err := decodeEventual(msg)
	if err != nil {
		e.mu.Lock()
		e.drops["malformed"]++
		e.mu.Unlock()
		return EventualMerge{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var (
		fresh   []*reg
		applied int
	)
	for _, r := range regs {
		if o := e.last; o.Less(r.Clock) {
			e.last = r.Clock // HLC receive: later local writes order after it
		}
		old := e.regs[r.Key]
		if old != nil && !r.wins(old) {
			continue
		}
		if len(r.Value) > e.cfg.MaxValueBytes {
			e.drops["value_too_large"]++
			continue
		}
		grow := r.size()
		if old != nil {
			grow -= old.size()
		}
		if grow > 0 && e.bytes+grow > e.cfg.MaxStoreBytes {
			e.drops["store_full"]++
			continue
		}
		if r.Deleted {
			r.learned = now
		}
		e.regs[r.Key] = r
		e.bytes += grow
		e.merges++
		applied++
		if e.observe != nil {
			e.observe(now.Sub(r.Clock.Time()))
		}
		if kind == msgEventualDelta {
			fresh = append(fresh, r)
		}
	}
	res := EventualMerge{Applied: applied}
	if len(fresh) > 0 {
		res.Outgoing = encodeEventual(msgEventualDelta, fresh)
	}
	return res, nil
}

// Compact forgets the tombstones learned more than TombstoneTTL before now
// and returns how many.
func (e *Eventual) Compact(now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for k, r := range e.regs {
		if r.Deleted && now.Sub(r.learned) > e.cfg.TombstoneTTL {
			e.bytes -= r.size()
			delete(e.regs, k)
			n++
		}
	}
	return n
}

// Get returns key's value as this node holds it. ErrNotFound if absent or
// deleted.
func (e *Eventual) Get(key string) (EventualEntry, error) {
	if err := ValidKey("key", key, false); err != nil {
		return EventualEntry{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.regs[key]
	if r == nil || r.Deleted {
		return EventualEntry{}, wire.Refuse(wire.NotFound, ErrNotFound, "key %q not found in the eventual store", key)
	}
	return r.EventualEntry, nil
}

// List returns the live keys with prefix in key order, at most limit (0:
// all).
func (e *Eventual) List(prefix string, limit int) ([]EventualEntry, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, wire.Invalidf("limit", "must not be negative, got %d", limit)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []EventualEntry
	for k, r := range e.regs {
		if !r.Deleted && strings.HasPrefix(k, prefix) {
			out = append(out, r.EventualEntry)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Stats returns the store's size and counters.
func (e *Eventual) Stats() EventualStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := EventualStats{Bytes: e.bytes, Merges: e.merges, Dropped: map[string]uint64{}}
	for _, r := range e.regs {
		if r.Deleted {
			s.Tombstones++
		} else {
			s.Keys++
		}
	}
	for k, v := range e.drops {
		s.Dropped[k] = v
	}
	return s
}

// Digest is an order-independent summary of the whole store (live keys
// and tombstones): two stores with the same digest hold the same versions.
// Tests and the benchmark compare nodes with it.
func (e *Eventual) Digest() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.regs))
	for k := range e.regs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rs := make([]*reg, 0, len(keys))
	for _, k := range keys {
		rs = append(rs, e.regs[k])
	}
	return string(wire.Checksum(encodeEventual(msgEventualState, rs)))
}

// State is this node's push/pull state: the versions from the cursor on,
// in key order, wrapping around, up to MaxStateBytes; the next state
// starts where this one stopped.
func (e *Eventual) State() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.regs))
	for k := range e.regs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	start := sort.SearchStrings(keys, e.cursor)
	var (
		out  []*reg
		size int
	)
	for i := 0; i < len(keys); i++ {
		r := e.regs[keys[(start+i)%len(keys)]]
		if size+r.size() > e.cfg.MaxStateBytes && len(out) > 0 {
			e.cursor = r.Key
			return encodeEventual(msgEventualState, out)
		}
		out = append(out, r)
		size += r.size()
	}
	e.cursor = ""
	return encodeEventual(msgEventualState, out)
}
