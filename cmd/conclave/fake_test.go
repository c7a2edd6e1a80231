package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
)

// fakeNode is an in-memory node for driving the CLI and the agent loop
// over a real API server: a map with index-like versions, and Done/Leave/
// Shutdown that behave like the real lifecycle.
type fakeNode struct {
	mu        sync.Mutex
	name      string
	kv        map[string]cluster.KVEntry
	index     uint64
	done      chan struct{}
	stopOnce  sync.Once
	shutdowns int
	// lk is the session and lock table (fake_lock_test.go).
	lk *fakeLockTable
	// admitted records operator admissions.
	admitted []string
	// reg is the service registry, made by Registry.
	reg *fakeRegistry
}

func newFakeNode(name string) *fakeNode {
	return &fakeNode{name: name, kv: map[string]cluster.KVEntry{}, index: 1, done: make(chan struct{}), lk: newFakeLockTable(name)}
}

// services serves everything the fake has: no names, groups, keyring or
// health checks.
func (f *fakeNode) services() api.Services {
	return api.Services{Cluster: f, Admit: f, KV: f.KV(), Sessions: f, Locks: f.Locks(), Registry: f.Registry()}
}

// fakeKV is the fake node's KV service, as cluster.Node.KV is the real
// one's; it shares the node's map and lock.
type fakeKV struct{ *fakeNode }

// KV returns the fake's KV service.
func (f *fakeNode) KV() fakeKV { return fakeKV{f} }

func (f *fakeNode) Name() string { return f.name }

func (f *fakeNode) Members() []cluster.Member {
	return []cluster.Member{
		{Name: "n2", Addr: "127.0.0.2:7946", State: "alive", RaftRole: "voter", Priority: 100, Eligible: true},
		{Name: f.name, Addr: "127.0.0.1:7946", State: "alive", RaftRole: "voter", Leader: true, Priority: 100, Eligible: true, APIAddr: "127.0.0.1:7940"},
	}
}

func (f *fakeNode) RaftStatus() cluster.RaftStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cluster.RaftStatus{Node: f.name, State: "leader", Term: 2, LeaderID: f.name, Servers: []cluster.RaftServer{{ID: f.name, Suffrage: "voter", Leader: true}},
		Admitted: append([]string(nil), f.admitted...)}
}

func (f fakeKV) Get(_ context.Context, key string, _ cluster.ReadMode) (cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.kv[key]
	if !ok {
		return e, fmt.Errorf("%w: key %q", cluster.ErrNotFound, key)
	}
	return e, nil
}

func (f fakeKV) List(_ context.Context, prefix string, limit int, _ cluster.ReadMode) ([]cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
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

func (f fakeKV) Put(_ context.Context, key string, value []byte) (cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.put(key, value), nil
}

func (f *fakeNode) put(key string, value []byte) cluster.KVEntry {
	f.index++
	e := cluster.KVEntry{Key: key, Value: value, Version: f.index, CreateIndex: f.index}
	if old, ok := f.kv[key]; ok {
		e.CreateIndex = old.CreateIndex
	}
	f.kv[key] = e
	return e
}

func (f fakeKV) CompareAndSet(_ context.Context, key string, value []byte, version uint64) (cluster.KVEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur := f.kv[key].Version; cur != version {
		return cluster.KVEntry{}, fmt.Errorf("%w: key %q is at version %d", cluster.ErrVersionMismatch, key, cur)
	}
	return f.put(key, value), nil
}

func (f fakeKV) Delete(_ context.Context, key string, version uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.kv[key]
	if !ok {
		return fmt.Errorf("%w: key %q", cluster.ErrNotFound, key)
	}
	if version > 0 && version != e.Version {
		return fmt.Errorf("%w: key %q is at version %d", cluster.ErrVersionMismatch, key, e.Version)
	}
	delete(f.kv, key)
	return nil
}

func (f *fakeNode) Admit(_ context.Context, node string) error {
	if node == "" || strings.ContainsAny(node, "/ ") {
		return fmt.Errorf("%w: node: bad name %q", cluster.ErrInvalidArgument, node)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admitted = append(f.admitted, node)
	return nil
}

func (f *fakeNode) Leave(context.Context) error {
	f.stopOnce.Do(func() { close(f.done) })
	return nil
}

func (f *fakeNode) Shutdown(context.Context) error {
	f.mu.Lock()
	f.shutdowns++
	f.mu.Unlock()
	f.stopOnce.Do(func() { close(f.done) })
	return nil
}

func (f *fakeNode) Done() <-chan struct{} { return f.done }

// syncBuffer is a bytes.Buffer safe for a logger and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
