package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/pg"
)

// doHost sends a request with the given Host header.
func doHost(t *testing.T, method, url, host, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestHostGuardLoopback: on a loopback bind a mutation under a foreign Host
// (a DNS-rebinding page) is refused with 403 PermissionDenied and changes
// nothing; under localhost, a loopback IP or a configured name it works;
// reads work under any name.
func TestHostGuardLoopback(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.AllowedHosts = []string{"conclave.internal"}
	node := newFakeNode("n1")
	s := startServerWith(t, cfg, node.services())
	addr := s.srv.HTTPAddr().String()
	_, port, _ := net.SplitHostPort(addr)
	url := "http://" + addr + "/v1/kv/"

	tests := map[string]struct {
		method, host string
		want         int
	}{
		"put under a rebinding name":    {"PUT", "evil.example:" + port, http.StatusForbidden},
		"delete under a rebinding name": {"DELETE", "evil.example", http.StatusForbidden},
		"put under a LAN IP":            {"PUT", "192.168.1.20:" + port, http.StatusForbidden},
		"put under localhost":           {"PUT", "localhost:" + port, http.StatusOK},
		"put under LOCALHOST.":          {"PUT", "LOCALHOST.:" + port, http.StatusOK},
		"put under 127.0.0.1":           {"PUT", addr, http.StatusOK},
		"put under [::1]":               {"PUT", "[::1]:" + port, http.StatusOK},
		"put under a configured name":   {"PUT", "conclave.internal:" + port, http.StatusOK},
		"get under a rebinding name":    {"GET", "evil.example:" + port, http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			key := strings.ReplaceAll(name, " ", "-")
			node.put(key, []byte("before"))
			code, body := doHost(t, tc.method, url+key, tc.host, "after")
			if code != tc.want {
				t.Fatalf("%s Host %q: %d %s, want %d", tc.method, tc.host, code, body, tc.want)
			}
			e, err := node.KV().Get(context.Background(), key, cluster.ReadStale)
			if tc.want == http.StatusForbidden {
				if c, msg := restErr(t, body); c != "PermissionDenied" || !strings.Contains(msg, "http_allowed_hosts") {
					t.Fatalf("error %s %q", c, msg)
				}
				if err != nil || string(e.Value) != "before" {
					t.Fatalf("refused %s changed the key: %q %v", tc.method, e.Value, err)
				}
			}
			if tc.method == "PUT" && tc.want == http.StatusOK && string(e.Value) != "after" {
				t.Fatalf("accepted PUT left %q", e.Value)
			}
		})
	}
}

func TestHostGuardOffBeyondLoopback(t *testing.T) {
	next := http.NotFoundHandler()
	h := newHostGuard(next, &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 7941}, nil, zerolog.Nop())
	if _, wrapped := h.(*hostGuard); wrapped {
		t.Fatal("guard on a non-loopback bind")
	}
	h = newHostGuard(next, &net.TCPAddr{IP: net.ParseIP("::1"), Port: 7941}, nil, zerolog.Nop())
	if _, wrapped := h.(*hostGuard); !wrapped {
		t.Fatal("no guard on [::1]")
	}
}

// mutationSpy is a node on which every mutating call is counted (and does
// nothing); reads answer empty. Its services (spyKV, spyLocks, spyNames,
// spyGroups) count into it.
type mutationSpy struct {
	*fakeNode
	mutations atomic.Int32
	last      atomic.Value
}

func (m *mutationSpy) mutate(what string) { m.mutations.Add(1); m.last.Store(what) }

func (m *mutationSpy) Leave(context.Context) error { m.mutate("Leave"); return nil }
func (m *mutationSpy) OpenSession(context.Context, time.Duration) (Session, error) {
	m.mutate("OpenSession")
	return nil, cluster.ErrUnavailable
}

// spyKV reads from the fake's KV service and counts its writes.
type spyKV struct {
	fakeKV
	spy *mutationSpy
}

func (k spyKV) Put(context.Context, string, []byte) (cluster.KVEntry, error) {
	k.spy.mutate("KV.Put")
	return cluster.KVEntry{}, nil
}
func (k spyKV) CompareAndSet(context.Context, string, []byte, uint64) (cluster.KVEntry, error) {
	k.spy.mutate("KV.CompareAndSet")
	return cluster.KVEntry{}, nil
}
func (k spyKV) Delete(context.Context, string, uint64) error {
	k.spy.mutate("KV.Delete")
	return nil
}
func (k spyKV) DeletePrefix(context.Context, string) (int, error) {
	k.spy.mutate("KV.DeletePrefix")
	return 0, nil
}
func (k spyKV) Txn(context.Context, []kv.Compare, []kv.Op) (kv.TxnResult, error) {
	k.spy.mutate("KV.Txn")
	return kv.TxnResult{}, nil
}

// spyLocks reads from the fake's lock service and counts its writes.
type spyLocks struct {
	fakeLockService
	spy *mutationSpy
}

func (l spyLocks) Acquire(context.Context, string, string, cluster.AcquireOptions) (uint64, error) {
	l.spy.mutate("Locks.Acquire")
	return 0, nil
}
func (l spyLocks) Release(context.Context, string, string) error {
	l.spy.mutate("Locks.Release")
	return nil
}

// spyNames counts registrations and answers reads empty.
type spyNames struct{ spy *mutationSpy }

func (n spyNames) Register(context.Context, string, string, naming.Scope, []byte) (naming.Binding, error) {
	n.spy.mutate("Names.Register")
	return naming.Binding{}, nil
}
func (n spyNames) Unregister(context.Context, string, string) error {
	n.spy.mutate("Names.Unregister")
	return nil
}
func (spyNames) Lookup(context.Context, string, cluster.ReadMode) (naming.Binding, error) {
	return naming.Binding{}, cluster.ErrNotFound
}
func (spyNames) List(context.Context, string, naming.Scope, cluster.ReadMode) ([]naming.Binding, error) {
	return nil, nil
}
func (spyNames) Watch(string) (*cluster.NameWatch, error) {
	return nil, cluster.ErrUnavailable
}

// spyGroups counts joins, leaves and broadcasts and answers reads empty.
type spyGroups struct{ spy *mutationSpy }

func (g spyGroups) Join(pg.Key, string) error {
	g.spy.mutate("Groups.Join")
	return nil
}
func (g spyGroups) Leave(pg.Key, string) error {
	g.spy.mutate("Groups.Leave")
	return nil
}
func (g spyGroups) Broadcast(context.Context, pg.Key, string, []byte, bool) (cluster.GroupBroadcastResult, error) {
	g.spy.mutate("Groups.Broadcast")
	return cluster.GroupBroadcastResult{}, nil
}
func (spyGroups) Members(pg.Key, bool) ([]string, error)     { return nil, nil }
func (spyGroups) Groups(string) ([]cluster.GroupInfo, error) { return nil, nil }
func (spyGroups) Monitor(pg.Key) (*pg.Monitor, error)        { return nil, cluster.ErrUnavailable }

// services serves the spy for every service that has a REST endpoint.
func (m *mutationSpy) services() Services {
	return Services{Cluster: m, KV: spyKV{m.KV(), m}, Sessions: m, Locks: spyLocks{m.Locks(), m},
		Names: spyNames{m}, Groups: spyGroups{m}}
}

// TestGETNeverMutates sends GET and HEAD to every path the HTTP door
// serves, with every query parameter a handler reads and some that a
// careless handler might obey, and checks the node saw no mutating call.
func TestGETNeverMutates(t *testing.T) {
	spy := &mutationSpy{fakeNode: newFakeNode("n1")}
	s := startServer(t, spy.services())
	base := "http://" + s.srv.HTTPAddr().String()
	paths := []string{
		"/", "/ui", "/ui/", "/ui/app.js", "/metrics", "/v1/health/live", "/v1/health/ready",
		"/v1/members", "/v1/raft", "/v1/sd/prometheus",
		"/v1/kv", "/v1/kv/", "/v1/kv/a", "/v1/kv/a?raw", "/v1/kv/a?cas=0&value=x", "/v1/kv/a?method=PUT",
		"/v1/kv?prefix=a&limit=1&mode=consistent", "/v1/kv?prefix=a&delete=1", "/v1/kv/?prefix=a&recurse",
		"/v1/locks", "/v1/locks/", "/v1/locks/a?pid=p&release=true", "/v1/names", "/v1/names/svc/a?register=1",
		"/v1/groups", "/v1/groups/", "/v1/groups/g?local=true&join=p", "/v1/leave", "/v1/nope",
	}
	for _, p := range paths {
		for _, method := range []string{"GET", "HEAD"} {
			code, _ := doHost(t, method, base+p, "evil.example", "")
			if code == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: 405", method, p)
			}
			if n := spy.mutations.Load(); n != 0 {
				t.Fatalf("%s %s made a mutating call (%v)", method, p, spy.last.Load())
			}
		}
	}
	// The spy does see mutations: a PUT under localhost reaches KV.Put.
	if code, body := doHost(t, "PUT", base+"/v1/kv/a", "localhost", "x"); code != 200 || spy.mutations.Load() != 1 {
		t.Fatalf("PUT: %d %s, %d mutations", code, body, spy.mutations.Load())
	}
}
