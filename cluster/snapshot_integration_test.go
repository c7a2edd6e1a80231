package cluster_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
)

// A snapshot saved on one cluster and restored on a new one reproduces
// every key, lock and name, and the ACLs; the restored cluster keeps its
// own Raft configuration and serves writes after.
func TestSnapshotSaveOnOneClusterRestoreOnAnother(t *testing.T) {
	aclOn := func(_ int, cfg *config.Config) { cfg.ACL.Enabled, cfg.ACL.DefaultPolicy = true, "deny" }
	a := testcluster.New(t, 3, testcluster.Options{Configure: aclOn})
	la := a.WaitLeader(20 * time.Second)
	ctx := ctxT(t)
	const keys = 200
	for i := 0; i < keys; i++ {
		if _, err := la.KV().Put(ctx, fmt.Sprintf("k/%03d", i), []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := la.OpenSession(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	token, err := la.Locks().Acquire(ctx, sess.PID(), "jobs/nightly", locks.AcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := la.Names().Register(ctx, sess.PID(), "svc/billing", naming.ScopeConsistent, []byte("10.0.0.1:80")); err != nil {
		t.Fatal(err)
	}
	// A semaphore slot and an election's leadership: the lock table's
	// snapshot version 2.
	semTok, err := la.Locks().SemAcquire(ctx, sess.PID(), "jobs/batch", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	electTok, err := la.Locks().Campaign(ctx, sess.PID(), "svc-leader", "10.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	boot, err := la.ACL().Bootstrap(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	// A follower refuses, naming the leader.
	var follower *testcluster.Node
	for _, n := range a.Running() {
		if n != la {
			follower = n
			break
		}
	}
	if _, err := follower.SaveSnapshot(ctx, &bytes.Buffer{}); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("save on follower %s = %v, want ErrNotLeader", follower.Name, err)
	}
	var archive bytes.Buffer
	info, err := la.SaveSnapshot(ctx, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if info.Index == 0 || info.Size == 0 || info.Node != la.Name {
		t.Fatalf("snapshot info %+v", info)
	}

	b := testcluster.New(t, 1, testcluster.Options{Configure: aclOn})
	lb := b.WaitLeader(20 * time.Second)
	// A damaged archive changes nothing.
	bad := bytes.Clone(archive.Bytes())
	bad[len(bad)/2] ^= 0xff
	if _, err := lb.RestoreSnapshot(ctx, bytes.NewReader(bad)); !errors.Is(err, cluster.ErrInvalidArgument) {
		t.Fatalf("restore of a damaged archive = %v, want ErrInvalidArgument", err)
	}
	if _, err := lb.KV().Get(ctx, "k/000", cluster.ReadDefault); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("after a refused restore k/000 = %v, want not found", err)
	}
	if _, err := lb.RestoreSnapshot(ctx, bytes.NewReader(archive.Bytes()[:archive.Len()-10])); !errors.Is(err, cluster.ErrInvalidArgument) {
		t.Fatalf("restore of a truncated archive = %v, want ErrInvalidArgument", err)
	}

	if _, err := lb.RestoreSnapshot(ctx, bytes.NewReader(archive.Bytes())); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < keys; i++ {
		e, err := lb.KV().Get(ctx, fmt.Sprintf("k/%03d", i), cluster.ReadDefault)
		if err != nil || string(e.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("k/%03d after restore = %q, %v", i, e.Value, err)
		}
	}
	li, err := lb.Locks().Inspect(ctx, "jobs/nightly", cluster.ReadDefault)
	if err != nil || li.Holder != sess.PID() || li.Token != token {
		t.Fatalf("lock after restore = %+v, %v; want held by %s with token %d", li, err, sess.PID(), token)
	}
	si, err := lb.Locks().SemInspect(ctx, "jobs/batch", cluster.ReadDefault)
	if err != nil || si.Limit != 2 || len(si.Holders) != 1 || si.Holders[0].PID != sess.PID() || si.Holders[0].Token != semTok {
		t.Fatalf("semaphore after restore = %+v, %v", si, err)
	}
	ei, err := lb.Locks().Leader(ctx, "svc-leader", cluster.ReadDefault)
	if err != nil || ei.Leader != sess.PID() || ei.Token != electTok || ei.Value != "10.0.0.1:80" {
		t.Fatalf("election after restore = %+v, %v", ei, err)
	}
	nb, err := lb.Names().Lookup(ctx, "svc/billing", cluster.ReadDefault)
	if err != nil || nb.PID != sess.PID() {
		t.Fatalf("name after restore = %+v, %v", nb, err)
	}
	if _, err := lb.ACL().Resolve(boot.SecretID); err != nil {
		t.Fatalf("the bootstrap token after restore: %v", err)
	}
	if _, err := lb.ACL().Bootstrap(ctx, 0); !errors.Is(err, acl.ErrBootstrapped) {
		t.Fatalf("bootstrap after restore = %v, want ErrBootstrapped", err)
	}
	// Its own configuration, and it takes writes.
	if st := lb.RaftStatus(); len(st.Servers) != 1 || st.Servers[0].ID != lb.Name {
		t.Fatalf("servers after restore %+v, want only %s", st.Servers, lb.Name)
	}
	if _, err := lb.KV().Put(ctx, "after", []byte("x")); err != nil {
		t.Fatal(err)
	}
}
