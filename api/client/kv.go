package client

import (
	"context"
	"strconv"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// ReadMode selects how fresh a read must be; it is itself a ReadOption and
// a ListOption. The zero value is ReadDefault.
type ReadMode int

const (
	// ReadDefault is served by the leader while it holds its lease.
	ReadDefault ReadMode = iota
	// ReadStale is served from the agent's local replica: it may lag, and
	// it works without quorum.
	ReadStale
	// ReadConsistent is served by a leader that first confirms with a
	// quorum that it still leads.
	ReadConsistent
)

// String returns the mode's lower-case name.
func (m ReadMode) String() string {
	switch m {
	case ReadStale:
		return "stale"
	case ReadConsistent:
		return "consistent"
	case ReadDefault:
		return "default"
	default:
		return "ReadMode(" + strconv.Itoa(int(m)) + ")"
	}
}

func (m ReadMode) applyRead(o *readOptions) { o.mode = m }
func (m ReadMode) applyList(o *listOptions) { o.mode = m }

func (m ReadMode) pb() pb.ReadMode {
	switch m {
	case ReadStale:
		return pb.ReadMode_READ_MODE_STALE
	case ReadConsistent:
		return pb.ReadMode_READ_MODE_CONSISTENT
	case ReadDefault:
		return pb.ReadMode_READ_MODE_DEFAULT
	default:
		// Sent as is so the server rejects it with InvalidArgument
		// instead of the SDK silently reading in another mode.
		return pb.ReadMode(m)
	}
}

// Stale reads from the agent's local replica.
func Stale() ReadMode { return ReadStale }

// Consistent reads from a leader that confirms its leadership first.
func Consistent() ReadMode { return ReadConsistent }

// ReadOption configures KV.Get.
type ReadOption interface{ applyRead(*readOptions) }

// ListOption configures KV.List.
type ListOption interface{ applyList(*listOptions) }

// DeleteOption configures KV.Delete.
type DeleteOption interface{ applyDelete(*deleteOptions) }

// PutOption configures KV.Put.
type PutOption interface{ applyPut(*putOptions) }

type readOptions struct {
	mode  ReadMode
	store pb.Store
}

type listOptions struct {
	mode  ReadMode
	limit uint32
	store pb.Store
}

type deleteOptions struct {
	version uint64
	set     bool
	store   pb.Store
}

type putOptions struct{ store pb.Store }

// StoreOption selects the keyspace of Get, List, Put and Delete; it is a
// ReadOption, ListOption, PutOption and DeleteOption.
type StoreOption pb.Store

func (s StoreOption) applyRead(o *readOptions)     { o.store = pb.Store(s) }
func (s StoreOption) applyList(o *listOptions)     { o.store = pb.Store(s) }
func (s StoreOption) applyDelete(o *deleteOptions) { o.store = pb.Store(s) }
func (s StoreOption) applyPut(o *putOptions)       { o.store = pb.Store(s) }

// Eventual selects the eventual store: a separate keyspace replicated by
// gossip as last-writer-wins registers, read and written on the agent
// asked with or without a Raft quorum. Its entries carry a Clock and no
// Version; it has no compare-and-set, conditional delete, transaction or
// watch, and reads only in the default (= stale) mode.
func Eventual() StoreOption { return StoreOption(pb.Store_STORE_EVENTUAL) }

// RaftStore selects the Raft-replicated store, the default.
func RaftStore() StoreOption { return StoreOption(pb.Store_STORE_RAFT) }

type limitOption uint32

func (l limitOption) applyList(o *listOptions) { o.limit = uint32(l) }

// Limit caps the number of entries List returns; 0 means all.
func Limit(n uint32) ListOption { return limitOption(n) }

type ifVersionOption uint64

func (v ifVersionOption) applyDelete(o *deleteOptions) { o.version, o.set = uint64(v), true }

// IfVersion makes Delete conditional: it deletes only if the key is at
// this version (a failed check is an Aborted error, see IsVersionMismatch).
// Version 0 is rejected with InvalidArgument.
func IfVersion(version uint64) DeleteOption { return ifVersionOption(version) }

// KV is the key-value API of a Client.
type KV struct {
	c pb.KVClient
}

// Get reads key. A missing key is a NotFound error (see IsNotFound).
func (k *KV) Get(ctx context.Context, key string, opts ...ReadOption) (KVEntry, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := k.c.Get(ctx, &pb.GetRequest{Key: key, Mode: o.mode.pb(), Store: o.store})
	if err != nil {
		return KVEntry{}, err
	}
	return kvEntryFromPB(resp.GetEntry()), nil
}

// List returns the entries whose key starts with prefix, in key order.
func (k *KV) List(ctx context.Context, prefix string, opts ...ListOption) ([]KVEntry, error) {
	var o listOptions
	for _, opt := range opts {
		opt.applyList(&o)
	}
	resp, err := k.c.List(ctx, &pb.ListRequest{Prefix: prefix, Limit: o.limit, Mode: o.mode.pb(), Store: o.store})
	if err != nil {
		return nil, err
	}
	out := make([]KVEntry, 0, len(resp.GetEntries()))
	for _, e := range resp.GetEntries() {
		out = append(out, kvEntryFromPB(e))
	}
	return out, nil
}

// Put writes key unconditionally and returns the stored entry. With
// Eventual it writes the eventual store.
func (k *KV) Put(ctx context.Context, key string, value []byte, opts ...PutOption) (KVEntry, error) {
	var o putOptions
	for _, opt := range opts {
		opt.applyPut(&o)
	}
	resp, err := k.c.Put(ctx, &pb.PutRequest{Key: key, Value: value, Store: o.store})
	if err != nil {
		return KVEntry{}, err
	}
	return kvEntryFromPB(resp.GetEntry()), nil
}

// CompareAndSet writes key only if its current version is version; version
// 0 means "only if absent". A failed check is an Aborted error (see
// IsVersionMismatch).
func (k *KV) CompareAndSet(ctx context.Context, key string, value []byte, version uint64) (KVEntry, error) {
	resp, err := k.c.Put(ctx, &pb.PutRequest{Key: key, Value: value, CasVersion: &version})
	if err != nil {
		return KVEntry{}, err
	}
	return kvEntryFromPB(resp.GetEntry()), nil
}

// Delete deletes key; with IfVersion only at that version. A missing key is
// a NotFound error.
func (k *KV) Delete(ctx context.Context, key string, opts ...DeleteOption) error {
	var o deleteOptions
	for _, opt := range opts {
		opt.applyDelete(&o)
	}
	req := &pb.DeleteRequest{Key: key, Store: o.store}
	if o.set {
		req.CasVersion = &o.version
	}
	_, err := k.c.Delete(ctx, req)
	return err
}
