// Package kv is the replicated key/value table: a deterministic state that
// the cluster FSM applies commands to, with no network, clock or Raft.
//
// Keys are ordered (a B-tree), so prefix listing is a range scan, and a
// snapshot is an O(1) copy-on-write clone taken under the FSM's lock. Every
// change records the Raft index that made it: Version is the index of the
// last write, CreateIndex the index of the write that created the key.
// Compare-and-set and conditional delete test Version.
package kv
