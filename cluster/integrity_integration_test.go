package cluster_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/internal/wire"
)

func holding(key string) func([]byte) bool {
	return func(data []byte) bool { return bytes.Contains(data, []byte(key)) }
}

func readiness(n *testcluster.Node, name string) cluster.CheckResult {
	for _, r := range n.Readiness() {
		if r.Name == name {
			return r
		}
	}
	return cluster.CheckResult{}
}

// A follower whose FSM sees a committed command that does not match its
// checksum halts at that index: it is not ready (fsm_integrity names the
// index), counts the failure, serves no stale read and applies nothing
// more; the rest of the cluster goes on.
func TestCorruptEntryHaltsTheReplicaThatSawIt(t *testing.T) {
	regs := make([]*prometheus.Registry, 3)
	c := testcluster.New(t, 3, testcluster.Options{NodeOptions: func(i int) []cluster.Option {
		regs[i] = prometheus.NewRegistry()
		return []cluster.Option{cluster.WithRegisterer(regs[i])}
	}})
	leader := c.WaitLeader(20 * time.Second)
	var followers []*testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			followers = append(followers, n)
		}
	}
	bad, good := followers[0], followers[1]
	bad.CorruptCommands(holding("k/corrupt"))

	for _, key := range []string{"k/before", "k/corrupt"} {
		if _, err := leader.KV().Put(ctxT(t), key, []byte("v")); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	testcluster.WaitFor(t, 10*time.Second, "the corrupted follower to halt", func() bool {
		_, ok := bad.FSMHalted()
		return ok
	})
	at, _ := bad.FSMHalted()
	if r := readiness(bad, "fsm_integrity"); r.Status != cluster.HealthFail || !strings.Contains(r.Reason, fmt.Sprintf("index %d", at)) {
		t.Fatalf("halted node's fsm_integrity = %+v, want fail naming index %d", r, at)
	}
	if r := readiness(good, "fsm_integrity"); r.Status != cluster.HealthPass {
		t.Fatalf("healthy node's fsm_integrity = %+v, want pass", r)
	}
	if n := counter(t, regs[bad.Index()], "conclave_fsm_checksum_failures_total", ""); n != 1 {
		t.Fatalf("halted node counts %v checksum failures, want 1", n)
	}
	if n := counter(t, regs[good.Index()], "conclave_fsm_checksum_failures_total", ""); n != 0 {
		t.Fatalf("healthy node counts %v checksum failures, want 0", n)
	}
	if !c.LogsContain("checksum mismatch") {
		t.Fatal("no log line names the checksum mismatch")
	}
	if _, err := bad.KV().Get(ctxT(t), "k/before", wire.ReadStale); !errors.Is(err, wire.ErrUnavailable) || !strings.Contains(err.Error(), "state machine halted") {
		t.Fatalf("stale read on the halted node: %v, want unavailable naming the halt", err)
	}

	// The cluster goes on; the halted node stays where it stopped.
	if _, err := leader.KV().Put(ctxT(t), "k/after", []byte("v")); err != nil {
		t.Fatalf("put after the halt: %v", err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the healthy follower to apply k/after", func() bool {
		e, err := good.KV().Get(ctxT(t), "k/after", wire.ReadStale)
		return err == nil && string(e.Value) == "v"
	})
	if e, err := good.KV().Get(ctxT(t), "k/corrupt", wire.ReadStale); err != nil || string(e.Value) != "v" {
		t.Fatalf("healthy follower's k/corrupt = %+v, %v; want v", e, err)
	}
	if now, _ := bad.FSMHalted(); now != at {
		t.Fatalf("halted node's index moved from %d to %d", at, now)
	}
}

// A leader whose FSM halts hands leadership off; a write through another
// node then succeeds.
func TestHaltedLeaderHandsOffLeadership(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	leader.CorruptCommands(holding("k/corrupt"))
	if _, err := leader.KV().Put(ctxT(t), "k/corrupt", []byte("v")); err == nil || !strings.Contains(err.Error(), "state machine halted") {
		t.Fatalf("put applied by a halting leader: %v, want a refusal naming the halt", err)
	}
	if r := readiness(leader, "fsm_integrity"); r.Status != cluster.HealthFail {
		t.Fatalf("halted leader's fsm_integrity = %+v, want fail", r)
	}
	var other *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			other = n
			break
		}
	}
	testcluster.WaitFor(t, 20*time.Second, "another node to lead and take a write", func() bool {
		l := c.Leader()
		if l == nil || l == leader {
			return false
		}
		_, err := other.KV().Put(ctxT(t), "k/after", []byte("v"))
		return err == nil
	})
	if e, err := other.KV().Get(ctxT(t), "k/corrupt", wire.ReadDefault); err != nil || string(e.Value) != "v" {
		t.Fatalf("k/corrupt on the healthy replicas = %+v, %v; want v (only the halted node saw it corrupt)", e, err)
	}
}
