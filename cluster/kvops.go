package cluster

import (
	"context"

	"github.com/conclave-dev/conclave/kv"
)

// KVEntry is one key of the replicated KV store (kv.Entry). Version is the
// Raft index of the write that last changed the key and grows with every
// change; CreateIndex is the index of the write that created it.
type KVEntry = kv.Entry

// KV limits (package kv's), re-exported for the API's early checks.
const (
	MaxKeyBytes   = kv.MaxKeyBytes
	MaxValueBytes = kv.MaxValueBytes
)

// KVGet reads one key. ErrNotFound if absent.
func (n *Node) KVGet(ctx context.Context, key string, mode ReadMode) (KVEntry, error) {
	return n.kv.Get(ctx, key, mode)
}

// KVList lists the keys with the prefix in key order, at most limit (0 = all).
func (n *Node) KVList(ctx context.Context, prefix string, limit int, mode ReadMode) ([]KVEntry, error) {
	return n.kv.List(ctx, prefix, limit, mode)
}

// KVPut writes key unconditionally and returns the stored entry.
func (n *Node) KVPut(ctx context.Context, key string, value []byte) (KVEntry, error) {
	return n.kv.Put(ctx, key, value)
}

// KVCompareAndSet writes key only if its current version is version; version
// 0 means "only if absent". ErrVersionMismatch otherwise.
func (n *Node) KVCompareAndSet(ctx context.Context, key string, value []byte, version uint64) (KVEntry, error) {
	return n.kv.CompareAndSet(ctx, key, value, version)
}

// KVDelete deletes key. With version > 0 it deletes only at that version
// (ErrVersionMismatch otherwise). ErrNotFound if absent.
func (n *Node) KVDelete(ctx context.Context, key string, version uint64) error {
	return n.kv.Delete(ctx, key, version)
}
