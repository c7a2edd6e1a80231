// Package kv is the replicated key/value store, a domain like locks and
// naming (DESIGN §2): a deterministic table (table.go) with no network,
// clock or Raft; its typed commands and their one encoding (commands.go);
// the replicated table the FSM envelope dispatches to (replicated.go); and
// the service that validates a request, proposes it and reads the answer
// (service.go), through the small Proposer interface it declares.
//
// Keys are ordered (a B-tree), so prefix listing is a range scan, and a
// snapshot is an O(1) copy-on-write clone. Every change records the Raft
// index that made it: Version is the index of the last write, CreateIndex
// the index of the write that created it. Compare-and-set and conditional
// delete test Version. A watch (watch.go) is a blocking query over a
// prefix: it waits on the replica's change signal, or polls the leader on
// a node without a replica.
//
// A prefix delete removes every key under a non-empty prefix in one entry.
// A transaction (Txn) compares versions of up to MaxTxnItems keys and
// applies its puts and deletes in one entry, all of them or none: the
// command is validated whole before it is applied, so once the compares
// hold no op can fail.
//
// The eventual store (eventual.go, eventual_wire.go, eventual_service.go)
// is a second keyspace outside Raft: last-writer-wins registers stamped
// with a hybrid logical clock, deletes as tombstones collected after a
// bound, replicated by gossip through the small EventualGossip interface
// (cluster plugs it into the gossip delegate beside the eventual names).
// It is bounded per value, for the whole store and per push/pull state;
// see docs/eventual-kv.md.
package kv
