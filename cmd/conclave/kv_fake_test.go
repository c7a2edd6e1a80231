package main

import (
	"context"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/kv"
)

// DeletePrefix deletes the fake's keys with prefix (the server's checks
// are kv's, as the real service makes them).
func (f fakeKV) DeletePrefix(_ context.Context, prefix string) (int, error) {
	if err := kv.DeletePrefix(prefix).Validate(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.kv {
		if strings.HasPrefix(k, prefix) {
			delete(f.kv, k)
			n++
		}
	}
	return n, nil
}

// Txn checks the transaction with kv's own rules (limits, sizes, one op
// per key), then applies it to the fake's map, all or nothing, at one new
// index.
func (f fakeKV) Txn(_ context.Context, compares []kv.Compare, ops []kv.Op) (kv.TxnResult, error) {
	if err := kv.Txn(compares, ops).Validate(); err != nil {
		return kv.TxnResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range compares {
		if v := f.kv[c.Key].Version; v != c.Version {
			return kv.TxnResult{Failed: i, Actual: v}, nil
		}
	}
	f.index++
	r := kv.TxnResult{Succeeded: true, Index: f.index}
	for _, o := range ops {
		if o.Delete {
			_, ok := f.kv[o.Key]
			delete(f.kv, o.Key)
			r.Results = append(r.Results, kv.OpResult{Entry: kv.Entry{Key: o.Key}, Delete: true, Deleted: ok})
			continue
		}
		e := kv.Entry{Key: o.Key, Value: o.Value, Version: f.index, CreateIndex: f.index}
		if old, ok := f.kv[o.Key]; ok {
			e.CreateIndex = old.CreateIndex
		}
		f.kv[o.Key] = e
		r.Results = append(r.Results, kv.OpResult{Entry: e})
	}
	return r, nil
}

// Watch answers a first watch (after 0) with the listing at once; a later
// one waits until ctx ends, as nothing changes the fake by itself.
func (f fakeKV) Watch(ctx context.Context, prefix string, after uint64, _ time.Duration) ([]cluster.KVEntry, uint64, error) {
	if after == 0 {
		es, err := f.List(ctx, prefix, 0, cluster.ReadDefault)
		return es, 1, err
	}
	<-ctx.Done()
	return nil, 0, ctx.Err()
}
