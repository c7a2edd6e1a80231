package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/kv"
)

// fakeNode is a deterministic in-memory node: a map with Raft-index-like
// versions. It tests the API's translation, not cluster's behaviour.
type fakeNode struct {
	mu      sync.Mutex
	name    string
	members []cluster.Member
	raft    cluster.RaftStatus
	kv      map[string]cluster.KVEntry
	index   uint64
	// err, when set, is returned by every KV call and Leave.
	err error
	// lastMode and lastLimit record what the handler passed down.
	lastMode  cluster.ReadMode
	lastLimit int
	lastCall  string
	left      int
	// Sessions and locks: see fake_lock_test.go.
	lk fakeLocks
}

func newFakeNode(name string) *fakeNode {
	return &fakeNode{name: name, kv: map[string]cluster.KVEntry{}, index: 10, lk: newFakeLocks()}
}

// services serves everything the fake has: no names, groups, keyring,
// admissions or health checks.
func (f *fakeNode) services() Services {
	return Services{Cluster: f, KV: f.KV(), Sessions: f, Locks: f.Locks()}
}

// fakeKV is the fake node's KV service, as cluster.Node.KV is the real
// one's; it shares the node's map and lock.
type fakeKV struct{ *fakeNode }

// KV returns the fake's KV service.
func (f *fakeNode) KV() fakeKV { return fakeKV{f} }

func (f *fakeNode) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeNode) setRaft(s cluster.RaftStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raft = s
}

func (f *fakeNode) calls() (string, cluster.ReadMode, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastCall, f.lastMode, f.lastLimit
}

func (f *fakeNode) Name() string { return f.name }

func (f *fakeNode) Members() []cluster.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cluster.Member(nil), f.members...)
}

func (f *fakeNode) RaftStatus() cluster.RaftStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raft
}

func (f fakeKV) Get(ctx context.Context, key string, mode cluster.ReadMode) (cluster.KVEntry, error) {
	if key == "panic" {
		panic("fake node: asked to panic")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall, f.lastMode = "get", mode
	if f.err != nil {
		return cluster.KVEntry{}, f.err
	}
	e, ok := f.kv[key]
	if !ok {
		return cluster.KVEntry{}, fmt.Errorf("%w: key %q", cluster.ErrNotFound, key)
	}
	return e, nil
}

func (f fakeKV) List(ctx context.Context, prefix string, limit int, mode cluster.ReadMode) ([]cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall, f.lastMode, f.lastLimit = "list", mode, limit
	if f.err != nil {
		return nil, f.err
	}
	var out []cluster.KVEntry
	for k, e := range f.kv {
		if strings.HasPrefix(k, prefix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeNode) put(key string, value []byte) cluster.KVEntry {
	f.index++
	e := cluster.KVEntry{Key: key, Value: append([]byte(nil), value...), Version: f.index, CreateIndex: f.index}
	if old, ok := f.kv[key]; ok {
		e.CreateIndex = old.CreateIndex
	}
	f.kv[key] = e
	return e
}

func (f fakeKV) Put(ctx context.Context, key string, value []byte) (cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall = "put"
	if f.err != nil {
		return cluster.KVEntry{}, f.err
	}
	return f.put(key, value), nil
}

func (f fakeKV) CompareAndSet(ctx context.Context, key string, value []byte, version uint64) (cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall = "cas"
	if f.err != nil {
		return cluster.KVEntry{}, f.err
	}
	if f.kv[key].Version != version {
		return cluster.KVEntry{}, fmt.Errorf("%w: key %q is at version %d, not %d", cluster.ErrVersionMismatch, key, f.kv[key].Version, version)
	}
	return f.put(key, value), nil
}

func (f fakeKV) Delete(ctx context.Context, key string, version uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall = "delete"
	if f.err != nil {
		return f.err
	}
	e, ok := f.kv[key]
	if !ok {
		return fmt.Errorf("%w: key %q", cluster.ErrNotFound, key)
	}
	if version > 0 && e.Version != version {
		return fmt.Errorf("%w: key %q is at version %d, not %d", cluster.ErrVersionMismatch, key, e.Version, version)
	}
	delete(f.kv, key)
	return nil
}

func (f fakeKV) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall = "delete-prefix"
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for k := range f.kv {
		if strings.HasPrefix(k, prefix) {
			delete(f.kv, k)
			n++
		}
	}
	return n, nil
}

// Txn applies the ops if every compare holds, like the real table (which
// also checks the limits; the fake does not).
func (f fakeKV) Txn(ctx context.Context, compares []kv.Compare, ops []kv.Op) (kv.TxnResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall = "txn"
	if f.err != nil {
		return kv.TxnResult{}, f.err
	}
	for i, c := range compares {
		if v := f.kv[c.Key].Version; v != c.Version {
			return kv.TxnResult{Failed: i, Actual: v}, nil
		}
	}
	r := kv.TxnResult{Succeeded: true, Index: f.index + 1}
	f.index++
	for _, o := range ops {
		if o.Delete {
			_, ok := f.kv[o.Key]
			delete(f.kv, o.Key)
			r.Results = append(r.Results, kv.OpResult{Entry: kv.Entry{Key: o.Key}, Delete: true, Deleted: ok})
			continue
		}
		e := cluster.KVEntry{Key: o.Key, Value: append([]byte(nil), o.Value...), Version: r.Index, CreateIndex: r.Index}
		if old, ok := f.kv[o.Key]; ok {
			e.CreateIndex = old.CreateIndex
		}
		f.kv[o.Key] = e
		r.Results = append(r.Results, kv.OpResult{Entry: e})
	}
	return r, nil
}

func (f *fakeNode) Leave(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.left++
	return nil
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("condition not met within %s", timeout)
		case <-tick.C:
		}
	}
}

// Watch answers at once with the listing (the fake has no changes to
// wait for), and the fake's index.
func (f fakeKV) Watch(ctx context.Context, prefix string, after uint64, _ time.Duration) ([]cluster.KVEntry, uint64, error) {
	es, err := f.List(ctx, prefix, 0, cluster.ReadDefault)
	return es, after + 1, err
}
