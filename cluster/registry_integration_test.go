package cluster_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/registry"
)

// sameEverywhere reports whether every node answers f with the same
// instances and index, and returns that answer.
func sameEverywhere(nodes []*testcluster.Node, f registry.Filter) ([]registry.Instance, uint64, bool) {
	var (
		first []registry.Instance
		idx   uint64
	)
	for i, n := range nodes {
		ins, x := n.Registry().Instances(f)
		if i == 0 {
			first, idx = ins, x
			continue
		}
		if x != idx || !reflect.DeepEqual(ins, first) {
			return nil, 0, false
		}
	}
	return first, idx, true
}

func instanceIDs(ins []registry.Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.Service+"/"+in.ID)
	}
	return out
}

// A registration on one node is answered alike (instances and index) by
// every node; it survives the leader's death; a blocking query on another
// node returns because of a change; the session's end removes it
// everywhere; the death of its node removes it everywhere within the
// documented bound (measured here).
func TestRegistryReplicatedLeaderKillSessionAndNodeDeath(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	var a, b *testcluster.Node // two followers
	for _, n := range c.Running() {
		if n != leader {
			if a == nil {
				a = n
			} else {
				b = n
			}
		}
	}
	sa := openSession(t, a)
	in, err := a.Registry().Register(ctxT(t), sa.PID(), registry.Registration{
		Service: "billing", ID: "b1", Endpoint: "10.1.0.1:8443", Protocol: "grpc", Type: "api",
		Tags: []string{"v2", "eu"}, Groups: []string{"blue"}, Meta: map[string]string{"version": "2.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if in.PID != sa.PID() || in.Node != a.Name || in.Health != registry.Passing || in.CreateIndex == 0 {
		t.Fatalf("registered %+v", in)
	}
	// Read your writes: a follower answers with its own registration at
	// once (Register waits for the local apply).
	if ins, idx := a.Registry().Instances(registry.Filter{Service: "billing"}); len(ins) != 1 || idx != in.ModifyIndex {
		t.Fatalf("the registering follower right after: %v at %d", instanceIDs(ins), idx)
	}
	testcluster.WaitFor(t, 10*time.Second, "every node answers the same", func() bool {
		ins, idx, same := sameEverywhere(c.Running(), registry.Filter{Service: "billing"})
		return same && len(ins) == 1 && idx == in.ModifyIndex
	})
	if ins, _ := b.Registry().Instances(registry.Filter{Tag: "eu", PassingOnly: true}); len(ins) != 1 || ins[0].Meta["version"] != "2.1" {
		t.Fatalf("query on %s by tag: %+v", b.Name, ins)
	}

	// A blocking query on b returns because a registration on a changed
	// the answer (the new instance is in it), not because of time.
	_, idx := b.Registry().Instances(registry.Filter{Service: "billing"})
	type waited struct {
		ins []registry.Instance
		idx uint64
		err error
		at  time.Time
	}
	got := make(chan waited, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		ins, x, err := b.Registry().Wait(ctx, registry.Filter{Service: "billing"}, idx)
		got <- waited{ins, x, err, time.Now()}
	}()
	if _, err := a.Registry().Register(ctxT(t), sa.PID(), registry.Registration{Service: "billing", ID: "b2", Endpoint: "10.1.0.2:8443"}); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	w := <-got
	if w.err != nil || w.idx <= idx || !reflect.DeepEqual(instanceIDs(w.ins), []string{"billing/b1", "billing/b2"}) {
		t.Fatalf("wait returned %v at %d (%v), want b1 and b2 above %d", instanceIDs(w.ins), w.idx, w.err, idx)
	}
	t.Logf("blocking query on a follower returned %s after the registration's commit on the leader", max(w.at.Sub(applied), 0))

	// The leader dies: the registrations stay, and writes work again.
	c.Kill(leader)
	c.WaitLeader(20 * time.Second)
	survivors := c.Running()
	testcluster.WaitFor(t, 10*time.Second, "both instances on both survivors", func() bool {
		ins, _, same := sameEverywhere(survivors, registry.Filter{})
		return same && len(ins) == 2
	})
	sb := openSession(t, b)
	if _, err := b.Registry().Register(ctxT(t), sb.PID(), registry.Registration{Service: "ledger", Endpoint: "10.1.0.3:80"}); err != nil {
		t.Fatalf("register after the leader change: %v", err)
	}
	// Another session cannot take a's instance: refused, naming the owner.
	_, err = b.Registry().Register(ctxT(t), sb.PID(), registry.Registration{Service: "billing", ID: "b1", Endpoint: "10.9.9.9:1"})
	if !errors.Is(err, registry.ErrTaken) || !strings.Contains(err.Error(), sa.PID()) {
		t.Fatalf("registration over another session's instance: %v", err)
	}

	// b's session ends: its instance is gone everywhere.
	if err := sb.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "ledger gone everywhere", func() bool {
		ins, _, same := sameEverywhere(survivors, registry.Filter{Service: "ledger"})
		return same && len(ins) == 0
	})

	// The old leader comes back (with its replica, caught up), so that
	// a quorum outlives a's death.
	c.Restart(leader)
	testcluster.WaitFor(t, 20*time.Second, "the restarted node caught up", func() bool {
		ins, _, same := sameEverywhere(c.Running(), registry.Filter{})
		return same && len(ins) == 2
	})

	// a dies (kill -9): its instances are gone everywhere within the
	// bound.
	c.Kill(a)
	killed := time.Now()
	testcluster.WaitFor(t, 30*time.Second, "a's instances gone everywhere", func() bool {
		ins, _, same := sameEverywhere(c.Running(), registry.Filter{})
		return same && len(ins) == 0
	})
	gone := time.Since(killed)
	t.Logf("instances of a killed node gone %s after the kill (local timings)", gone)
	// Local timings: gossip declares a node dead in about 1-2 s, the
	// leader waits NodeGoneGrace (0.5 s) then releases it in one entry.
	if gone > 15*time.Second {
		t.Fatalf("a killed node's instances lasted %s, the documented bound for local timings is 15 s", gone)
	}
}

// A failing HTTP check turns its instance critical after
// FailuresBeforeCritical failures, and passing again after
// SuccessesBeforePassing successes; bad input is refused naming the field
// and changes nothing; a TTL check follows its session's reports.
func TestRegistryHealthChecksAndBadInput(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1, NodeOptions: func(int) []cluster.Option {
		return []cluster.Option{cluster.WithRegisterer(reg)}
	}})
	n := c.WaitLeader(10 * time.Second)
	s := openSession(t, n)

	var failing atomic.Bool
	var served, failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		if failing.Load() {
			failed.Add(1)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	ep := strings.TrimPrefix(srv.URL, "http://")
	const thresholds = 2
	in, err := n.Registry().Register(ctxT(t), s.PID(), registry.Registration{
		Service: "web", ID: "w1", Endpoint: ep, Protocol: "http",
		Checks: []registry.Check{{Kind: registry.CheckHTTP, Interval: time.Second, Timeout: 500 * time.Millisecond,
			SuccessesBeforePassing: thresholds, FailuresBeforeCritical: thresholds}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if in.Health != registry.Critical {
		t.Fatalf("an instance with a check starts %v, want critical", in.Health)
	}
	health := func() registry.Health {
		ins, _ := n.Registry().Instances(registry.Filter{Service: "web"})
		if len(ins) != 1 {
			return 0
		}
		return ins[0].Health
	}
	testcluster.WaitFor(t, 15*time.Second, "w1 passing", func() bool { return health() == registry.Passing })
	if served.Load() < thresholds {
		t.Fatalf("passing after %d checks, the threshold is %d", served.Load(), thresholds)
	}
	failing.Store(true)
	testcluster.WaitFor(t, 15*time.Second, "w1 critical", func() bool { return health() == registry.Critical })
	if f := failed.Load(); f < thresholds {
		t.Fatalf("critical after %d failed checks, the threshold is %d", f, thresholds)
	}
	ins, _ := n.Registry().Instances(registry.Filter{Service: "web"})
	if !strings.Contains(ins[0].Output, "503") || ins[0].LastSeen.IsZero() {
		t.Fatalf("critical instance: output %q, last seen %v", ins[0].Output, ins[0].LastSeen)
	}
	if p, _ := n.Registry().Instances(registry.Filter{PassingOnly: true}); len(p) != 0 {
		t.Fatalf("passing only lists %v", instanceIDs(p))
	}
	if got := serviceInstances(t, reg, "web"); !reflect.DeepEqual(got, map[string]float64{"passing": 0, "warning": 0, "critical": 1}) {
		t.Fatalf("conclave_service_instances{service=web} = %v", got)
	}
	okBefore := served.Load() - failed.Load()
	failing.Store(false)
	testcluster.WaitFor(t, 15*time.Second, "w1 passing again", func() bool { return health() == registry.Passing })
	if ok := served.Load() - failed.Load() - okBefore; ok < thresholds {
		t.Fatalf("passing again after %d successes, the threshold is %d", ok, thresholds)
	}

	// A TTL check: critical until reported, then what the session says.
	ttl, err := n.Registry().Register(ctxT(t), s.PID(), registry.Registration{
		Service: "worker", Endpoint: "127.0.0.1:9",
		Checks: []registry.Check{{Kind: registry.CheckTTL, TTL: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Registry().UpdateTTL(ctxT(t), s.PID(), "worker", ttl.ID, registry.Warning, "busy"); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.Registry().Instances(registry.Filter{Service: "worker"}); len(got) != 1 || got[0].Health != registry.Warning || got[0].Output != "busy" {
		t.Fatalf("after a TTL update: %+v", got)
	}
	if err := n.Registry().UpdateTTL(ctxT(t), s.PID(), "web", "w1", registry.Passing, ""); !errors.Is(err, cluster.ErrInvalidArgument) {
		t.Fatalf("TTL update of an instance without a ttl check: %v", err)
	}

	// Bad input: InvalidArgument naming the field; nothing changes.
	_, before := n.Registry().Instances(registry.Filter{})
	for what, tc := range map[string]struct {
		r     registry.Registration
		field string
	}{
		"empty service":     {registry.Registration{Endpoint: "h:1"}, "service"},
		"endpoint no port":  {registry.Registration{Service: "x", Endpoint: "10.0.0.1"}, "endpoint"},
		"10 KB meta":        {registry.Registration{Service: "x", Endpoint: "h:1", Meta: map[string]string{"k": strings.Repeat("v", 10<<10)}}, "meta"},
		"unknown protocol":  {registry.Registration{Service: "x", Endpoint: "h:1", Protocol: "carrier-pigeon"}, "protocol"},
		"check interval":    {registry.Registration{Service: "x", Endpoint: "h:1", Checks: []registry.Check{{Kind: registry.CheckTCP, Interval: time.Millisecond, Timeout: time.Millisecond}}}, "checks[0].interval"},
		"reserved service":  {registry.Registration{Service: "_sys.dns", Endpoint: "h:1"}, "service"},
		"too many tags":     {registry.Registration{Service: "x", Endpoint: "h:1", Tags: make([]string, registry.MaxTags+1)}, "tags"},
		"unknown checkkind": {registry.Registration{Service: "x", Endpoint: "h:1", Checks: []registry.Check{{Kind: "ping"}}}, "checks[0].kind"},
	} {
		_, err := n.Registry().Register(ctxT(t), s.PID(), tc.r)
		if !errors.Is(err, cluster.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrInvalidArgument naming %s", what, err, tc.field)
		}
	}
	if _, after := n.Registry().Instances(registry.Filter{}); after != before {
		t.Fatalf("bad input moved the index from %d to %d", before, after)
	}
	if _, err := n.Registry().Register(ctxT(t), n.Name+"/nosuch", registry.Registration{Service: "x", Endpoint: "h:1"}); !errors.Is(err, cluster.ErrNoSession) {
		t.Fatalf("register for no session: %v", err)
	}
	if err := n.Registry().Deregister(ctxT(t), "nope", "x"); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("deregister of nothing: %v", err)
	}
}

// A client node holds no replica: it registers through the leader,
// answers queries from its mirror of a server's table, runs the checks of
// its own instances, and its death removes them everywhere.
func TestRegistryOnAClientNode(t *testing.T) {
	c := testcluster.New(t, 4, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		if i == 3 {
			cfg.Cluster.Raft.Role = "client"
		}
	}})
	leader := c.WaitLeader(20 * time.Second)
	client := c.Nodes()[3]
	testcluster.WaitFor(t, 20*time.Second, client.Name+" knowing the leader", func() bool {
		return client.RaftStatus().LeaderID != ""
	})
	if st := client.RaftStatus().State; st != "client" {
		t.Fatalf("%s is a %s; want a client", client.Name, st)
	}
	s := openSession(t, client)
	in, err := client.Registry().Register(ctxT(t), s.PID(), registry.Registration{
		Service: "edge", ID: "e1", Endpoint: "10.2.0.1:443", Protocol: "https",
		Checks: []registry.Check{{Kind: registry.CheckTTL, TTL: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A TTL update at once: the client reads the instance from a server.
	if err := client.Registry().UpdateTTL(ctxT(t), s.PID(), "edge", "e1", registry.Passing, "up"); err != nil {
		t.Fatal(err)
	}
	// The client answers from its mirror, with the servers' index.
	testcluster.WaitFor(t, 10*time.Second, "the client's mirror has e1", func() bool {
		ins, idx := client.Registry().Instances(registry.Filter{Service: "edge"})
		return len(ins) == 1 && idx > in.ModifyIndex
	})
	testcluster.WaitFor(t, 10*time.Second, "e1 passing on the leader and the client", func() bool {
		for _, n := range []*testcluster.Node{leader, client} {
			ins, _ := n.Registry().Instances(registry.Filter{Service: "edge", PassingOnly: true})
			if len(ins) != 1 || ins[0].Output != "up" {
				return false
			}
		}
		return true
	})
	// The client dies: the leader releases its node, its instance goes.
	c.Kill(client)
	testcluster.WaitFor(t, 30*time.Second, "e1 gone everywhere", func() bool {
		ins, _, same := sameEverywhere(c.Running(), registry.Filter{})
		return same && len(ins) == 0
	})
}

// serviceInstances reads conclave_service_instances of service from reg,
// by health.
func serviceInstances(t *testing.T, reg *prometheus.Registry, service string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "conclave_service_instances" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["service"] == service {
				out[l["health"]] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
