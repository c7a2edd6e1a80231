package cluster

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/conclave-dev/conclave/cluster/kv"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/raftcore"
)

// KVGet reads one key. ErrNotFound if absent.
func (n *Node) KVGet(ctx context.Context, key string, mode ReadMode) (KVEntry, error) {
	if err := validKey("key", key, false); err != nil {
		return KVEntry{}, err
	}
	q := &enc{b: []byte{cmdVersion, tableKV, kvGet}}
	q.string(key)
	es, err := n.kvQuery(ctx, mode, q.b)
	if err != nil {
		return KVEntry{}, fmt.Errorf("get %q: %w", key, err)
	}
	if len(es) != 1 {
		return KVEntry{}, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return es[0], nil
}

// KVList lists the keys with the prefix in key order, at most limit (0 = all).
func (n *Node) KVList(ctx context.Context, prefix string, limit int, mode ReadMode) ([]KVEntry, error) {
	if len(prefix) > MaxKeyBytes || !utf8.ValidString(prefix) {
		return nil, fmt.Errorf("%w: prefix: must be valid UTF-8 of at most %d bytes", ErrInvalidArgument, MaxKeyBytes)
	}
	if limit < 0 {
		return nil, fmt.Errorf("%w: limit: must not be negative, got %d", ErrInvalidArgument, limit)
	}
	q := &enc{b: []byte{cmdVersion, tableKV, kvList}}
	q.string(prefix)
	q.uvarint(uint64(limit))
	es, err := n.kvQuery(ctx, mode, q.b)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	return es, nil
}

// KVPut writes key unconditionally and returns the stored entry.
func (n *Node) KVPut(ctx context.Context, key string, value []byte) (KVEntry, error) {
	if err := errors.Join(validKey("key", key, true), validValue(value)); err != nil {
		return KVEntry{}, err
	}
	c := &enc{b: []byte{cmdVersion, tableKV, kvPut}}
	c.string(key)
	c.bytes(value)
	e, err := n.kvApply(ctx, c.b)
	if err != nil {
		return KVEntry{}, fmt.Errorf("put %q: %w", key, err)
	}
	return e, nil
}

// KVCompareAndSet writes key only if its current version is version; version
// 0 means "only if absent". ErrVersionMismatch otherwise.
func (n *Node) KVCompareAndSet(ctx context.Context, key string, value []byte, version uint64) (KVEntry, error) {
	if err := errors.Join(validKey("key", key, true), validValue(value)); err != nil {
		return KVEntry{}, err
	}
	c := &enc{b: []byte{cmdVersion, tableKV, kvCAS}}
	c.string(key)
	c.bytes(value)
	c.uvarint(version)
	e, err := n.kvApply(ctx, c.b)
	if err != nil {
		return KVEntry{}, fmt.Errorf("compare-and-set %q: %w", key, err)
	}
	return e, nil
}

// KVDelete deletes key. With version > 0 it deletes only at that version
// (ErrVersionMismatch otherwise). ErrNotFound if absent.
func (n *Node) KVDelete(ctx context.Context, key string, version uint64) error {
	if err := validKey("key", key, true); err != nil {
		return err
	}
	c := &enc{b: []byte{cmdVersion, tableKV, kvDelete}}
	c.string(key)
	c.uvarint(version)
	if _, err := n.kvApply(ctx, c.b); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

func (n *Node) kvApply(ctx context.Context, cmd []byte) (KVEntry, error) {
	resp, err := n.core.Apply(ctx, cmd)
	if err != nil {
		return KVEntry{}, coreErr(err)
	}
	d := &dec{b: resp}
	if st := d.byte(); st != resOK {
		return KVEntry{}, resultErr(st, d)
	}
	e := decodeEntry(d)
	if err := d.done(); err != nil {
		return KVEntry{}, fmt.Errorf("cluster: decode result: %w", err)
	}
	return toEntry(e), nil
}

func (n *Node) kvQuery(ctx context.Context, mode ReadMode, q []byte) ([]KVEntry, error) {
	resp, err := n.core.Query(ctx, raftMode(mode), q)
	if err != nil {
		return nil, coreErr(err)
	}
	d := &dec{b: resp}
	if st := d.byte(); st != resOK {
		return nil, resultErr(st, d)
	}
	out, err := decodeEntries(d)
	if err != nil {
		return nil, fmt.Errorf("cluster: decode query result: %w", err)
	}
	return out, nil
}

func toEntry(e *kv.Entry) KVEntry {
	return KVEntry{Key: e.Key, Value: e.Value, Version: e.Version, CreateIndex: e.CreateIndex}
}

func raftMode(m ReadMode) raftcore.ReadMode {
	switch m {
	case ReadStale:
		return raftcore.ReadStale
	case ReadConsistent:
		return raftcore.ReadConsistent
	}
	return raftcore.ReadDefault
}

// coreErr maps raftcore's errors onto the cluster's, keeping the message.
// The caller's own deadline or cancellation stays a context error (the
// cluster may be fine), even for a write of unknown outcome.
func coreErr(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, raftcore.ErrReplyTooLarge):
		return fmt.Errorf("%w: the answer exceeds the internode frame limit of %d MiB between this node and the leader; "+
			"ask for less (a narrower prefix, or a limit and then the rest), or ask the leader's node directly: %w",
			ErrTooLarge, internode.DefaultConfig().MaxFrameSize>>20, err)
	case errors.Is(err, raftcore.ErrUnavailable), errors.Is(err, raftcore.ErrOutcomeUnknown):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, raftcore.ErrShutdown):
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return err
}
