package cluster

import "github.com/conclave-dev/conclave/kv"

// KVEntry is one key of the replicated KV store (kv.Entry). Version is the
// Raft index of the write that last changed the key and grows with every
// change; CreateIndex is the index of the write that created it.
type KVEntry = kv.Entry

// KV limits (package kv's), re-exported for the API's early checks.
const (
	MaxKeyBytes   = kv.MaxKeyBytes
	MaxValueBytes = kv.MaxValueBytes
)
