package cluster_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

func keyOf(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// watchViews polls every running node's gossip view until stop is called
// and returns the first moment a node saw fewer than want members alive.
func watchViews(c *testcluster.Cluster, want int) (stop func() string) {
	var (
		mu    sync.Mutex
		lost  string
		done  = make(chan struct{})
		ended = make(chan struct{})
	)
	go func() {
		defer close(ended)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for _, n := range c.Running() {
				if got := aliveIn(n.Members()); got != want {
					mu.Lock()
					if lost == "" {
						lost = fmt.Sprintf("%s saw %d alive, want %d", n.Name, got, want)
					}
					mu.Unlock()
				}
			}
		}
	}()
	return func() string {
		close(done)
		<-ended
		mu.Lock()
		defer mu.Unlock()
		return lost
	}
}

func aliveIn(ms []cluster.Member) int {
	c := 0
	for _, m := range ms {
		if m.State == "alive" {
			c++
		}
	}
	return c
}

// mustAllOK runs op on n and fails unless every one of want nodes applied it.
func mustAllOK(t *testing.T, n *testcluster.Node, op cluster.KeyringOp, key string, want int) cluster.KeyringResult {
	t.Helper()
	r, err := n.Keyring(ctxT(t), op, key)
	if err != nil {
		t.Fatalf("keyring %v: %v", op, err)
	}
	if len(r.Nodes) != want || r.Failed() != 0 {
		t.Fatalf("keyring %v: %d nodes, %d failed: %+v", op, len(r.Nodes), r.Failed(), r.Nodes)
	}
	return r
}

// TestKeyringRotationOnRunningCluster rotates the gossip key of a running
// 3-node cluster from one node (install the new key, use it, remove the
// old one) while every node's view is watched: no node may lose another.
// Then a restarted node must come back with the rotated key from its
// keyring file, not the configured (old) secret, and rejoin.
func TestKeyringRotationOnRunningCluster(t *testing.T) {
	oldKey, newKey := keyOf(1), keyOf(2)
	c := testcluster.New(t, 3, testcluster.Options{GossipKey: oldKey})
	c.WaitLeader(20 * time.Second)
	nodes := c.Nodes()
	testcluster.WaitFor(t, 10*time.Second, "every node sees 3 alive", func() bool {
		for _, n := range nodes {
			if aliveIn(n.Members()) != 3 {
				return false
			}
		}
		return true
	})
	stop := watchViews(c, 3)

	r := mustAllOK(t, nodes[0], cluster.KeyringList, "", 3)
	if len(r.Keys) != 1 || r.Keys[0].Key != oldKey || r.Keys[0].Nodes != 3 || r.Keys[0].PrimaryOn != 3 {
		t.Fatalf("list before: %+v", r.Keys)
	}
	mustAllOK(t, nodes[0], cluster.KeyringInstall, newKey, 3)
	r = mustAllOK(t, nodes[1], cluster.KeyringList, "", 3)
	want := []cluster.KeyringKeySummary{{Key: oldKey, Nodes: 3, PrimaryOn: 3}, {Key: newKey, Nodes: 3, PrimaryOn: 0}}
	slices.SortFunc(want, func(a, b cluster.KeyringKeySummary) int { return strings.Compare(a.Key, b.Key) })
	if fmt.Sprint(r.Keys) != fmt.Sprint(want) {
		t.Fatalf("list after install: %+v, want %+v", r.Keys, want)
	}
	mustAllOK(t, nodes[0], cluster.KeyringUse, newKey, 3)
	mustAllOK(t, nodes[2], cluster.KeyringRemove, oldKey, 3)
	r = mustAllOK(t, nodes[0], cluster.KeyringList, "", 3)
	if len(r.Keys) != 1 || r.Keys[0].Key != newKey || r.Keys[0].PrimaryOn != 3 {
		t.Fatalf("list after rotation: %+v", r.Keys)
	}
	for _, nr := range r.Nodes {
		if nr.Primary != newKey || len(nr.Keys) != 1 {
			t.Fatalf("node %s after rotation: %+v", nr.Node, nr)
		}
	}
	// Gossip keeps flowing under the new key alone: a write commits (Raft
	// rides the mesh, but the leader's view of its voters is gossip's)
	// and, while the watcher still runs, every probe round passes.
	if _, err := c.WaitLeader(10*time.Second).KV().Put(ctxT(t), "after-rotation", []byte("x")); err != nil {
		t.Fatalf("write after rotation: %v", err)
	}
	if lost := stop(); lost != "" {
		t.Fatalf("a node lost a member during rotation: %s", lost)
	}

	// Restart: the keyring file wins over the configured old secret.
	victim := nodes[1]
	c.Stop(victim)
	c.Restart(victim)
	testcluster.WaitFor(t, 15*time.Second, "the restarted node back in every view", func() bool {
		for _, n := range nodes {
			if aliveIn(n.Members()) != 3 {
				return false
			}
		}
		return true
	})
	r = mustAllOK(t, victim, cluster.KeyringList, "", 3)
	for _, nr := range r.Nodes {
		if nr.Primary != newKey || len(nr.Keys) != 1 {
			t.Fatalf("after restart, node %s has %+v, want only the rotated key", nr.Node, nr)
		}
	}
	if !c.LogsContain("gossip keyring loaded from file") {
		t.Fatal("the restarted node did not log that its keyring file wins")
	}
}

// TestKeyringRefusals: bad input changes nothing anywhere and names the
// field; a node the mesh cannot reach is reported failed, not waited for.
func TestKeyringRefusals(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{GossipKey: keyOf(1)})
	c.WaitLeader(20 * time.Second)
	nodes := c.Nodes()
	n := nodes[0]
	tests := map[string]struct {
		op   cluster.KeyringOp
		key  string
		want error
		text string
	}{
		"bad base64":     {cluster.KeyringInstall, "%%%", cluster.ErrInvalidArgument, "key: not valid base64"},
		"wrong length":   {cluster.KeyringInstall, base64.StdEncoding.EncodeToString([]byte("short")), cluster.ErrInvalidArgument, "key: 5 bytes"},
		"empty":          {cluster.KeyringUse, "", cluster.ErrInvalidArgument, "key: must not be empty"},
		"remove primary": {cluster.KeyringRemove, keyOf(1), cluster.ErrKeyring, "key: it is the primary key of node n1"},
		"use unknown":    {cluster.KeyringUse, keyOf(9), cluster.ErrKeyring, "key: not installed on node n1"},
		"bad op":         {cluster.KeyringOp(9), keyOf(2), cluster.ErrInvalidArgument, "op: 9"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := n.Keyring(ctxT(t), tc.op, tc.key)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v with %q", err, tc.want, tc.text)
			}
		})
	}
	r := mustAllOK(t, n, cluster.KeyringList, "", 3)
	if len(r.Keys) != 1 || r.Keys[0].Key != keyOf(1) {
		t.Fatalf("a refused operation changed a keyring: %+v", r.Keys)
	}

	// n3 stays alive in gossip but the mesh to it is cut: reported failed
	// within the deadline, the others applied.
	c.CutMesh(nodes[0], nodes[2])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	r, err := n.Keyring(ctx, cluster.KeyringInstall, keyOf(2))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("Keyring took %v with a 2s deadline", took)
	}
	if len(r.Nodes) != 3 || r.Failed() != 1 || r.Nodes[2].Node != "n3" || !errors.Is(r.Nodes[2].Err, context.DeadlineExceeded) {
		t.Fatalf("want n3 failed on its deadline, the others ok: %+v", r.Nodes)
	}
	c.Heal()
	// Running it again completes the operation (it is idempotent).
	mustAllOK(t, n, cluster.KeyringInstall, keyOf(2), 3)
}

func TestKeyringNeedsEncryption(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	n := c.WaitLeader(10 * time.Second)
	_, err := n.Keyring(ctxT(t), cluster.KeyringList, "")
	if !errors.Is(err, cluster.ErrKeyring) || !errors.Is(err, gossip.ErrEncryptionOff) {
		t.Fatalf("err = %v, want ErrKeyring wrapping gossip.ErrEncryptionOff", err)
	}
}

// TestKeyringMalformedPeerRequest sends ClassKeyring requests that do not
// decode straight over the mesh: each is refused and counted, and the node
// still serves a good one.
func TestKeyringMalformedPeerRequest(t *testing.T) {
	c := testcluster.New(t, 2, testcluster.Options{GossipKey: keyOf(1), BootstrapExpect: -1})
	c.Start()
	a, b := c.Nodes()[0], c.Nodes()[1]
	testcluster.WaitFor(t, 10*time.Second, "a sees b", func() bool { return aliveIn(a.Members()) == 2 })
	for name, req := range map[string][]byte{
		"empty":       {},
		"bad version": {9, 1, 0},
		"bad op":      {1, 9, 0},
		"truncated":   {1, 2, 40, 'x'},
		"trailing":    {1, 1, 0, 0},
	} {
		if err := a.KeyringRawRequest(ctxT(t), b.InternodeAddr(), req); err == nil || !strings.Contains(err.Error(), "malformed keyring request") {
			t.Fatalf("%s: err = %v, want a malformed keyring request refusal", name, err)
		}
	}
	if got := b.KeyringMalformed(); got != 5 {
		t.Fatalf("b counted %d malformed keyring requests, want 5", got)
	}
	mustAllOK(t, a, cluster.KeyringList, "", 2)
}
