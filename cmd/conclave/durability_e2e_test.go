package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
)

// TestE2EDurability checks the promise behind every acknowledged write
// with each log store (cluster.raft.log_store): three agents as real
// processes, writers that record every put the cluster acknowledged, then
// kill -9 of the leader (round 1) and of all three agents at once (round
// 2), each followed by a restart from the data dirs. Every acknowledged
// key must then be present with its value. Round 2 is the hard one: the
// only copies left are what each agent synced before acknowledging.
func TestE2EDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents per log store")
	}
	bin := e2eBuild(t)
	for _, store := range []string{"bolt", "wal"} {
		t.Run(store, func(t *testing.T) {
			// The two clusters share nothing but the binary: running
			// them side by side halves the wall time of `make test`.
			t.Parallel()
			testDurability(t, bin, store)
		})
	}
}

const (
	// durWriters is how many writers put at once, one per node to start.
	durWriters = 3
	// durBatch is how many acknowledged puts each phase waits for.
	durBatch = 100
	// durPutTimeout bounds one put: a put to a dead node or during an
	// election fails after it and the writer moves to the next node.
	durPutTimeout = 2 * time.Second
)

func testDurability(t *testing.T, bin, store string) {
	c := newE2ECluster(t, bin, 3)
	for _, nd := range c.nodes {
		e2eSetLogStore(t, nd, store)
		c.start(nd)
	}
	cls := durClients(t, c)
	leader := durLeader(t, c, cls, time.Now(), 20*time.Second)
	for _, nd := range c.nodes {
		dir := filepath.Join(filepath.Dir(nd.cfgPath), nd.name, "_sys", "raft")
		b, err := os.ReadFile(filepath.Join(dir, "log_store"))
		if err != nil || strings.TrimSpace(string(b)) != store {
			t.Fatalf("%s: log_store marker %q, %v; want %q", nd.name, b, err, store)
		}
		_, err = os.Stat(filepath.Join(dir, "wal"))
		if hasWAL := err == nil; hasWAL != (store == "wal") {
			t.Fatalf("%s: wal dir present %v with log_store %s", nd.name, hasWAL, store)
		}
	}
	acked := &durAcks{m: map[string]string{}}

	// Round 1: kill -9 of the leader while the writers run; they carry on
	// through the survivors once one of them leads.
	w := startDurWriters(t, cls, acked, "r1")
	acked.waitCount(t, durBatch, 10*time.Second)
	leader.signal(t, syscall.SIGKILL)
	leader.waitExit(t, 5*time.Second)
	atKill := acked.count()
	acked.waitCount(t, atKill+durBatch, 15*time.Second)
	w.stop()
	t.Logf("%s round 1: %d puts acknowledged before kill -9 of leader %s, %d in all", store, atKill, leader.name, acked.count())
	c.start(leader)
	durVerify(t, c, cls, acked, 20*time.Second)

	// Round 2: kill -9 of all three at once while the writers run.
	w = startDurWriters(t, cls, acked, "r2")
	acked.waitCount(t, acked.count()+durBatch, 15*time.Second)
	for _, nd := range c.nodes {
		_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	}
	atKill = acked.count()
	for _, nd := range c.nodes {
		nd.waitExit(t, 5*time.Second)
	}
	w.stop()
	if late := acked.count() - atKill; late > 0 {
		// Calls answered in the instant between the signals and death.
		t.Logf("%s round 2: %d puts acknowledged as the agents died", store, late)
	}
	restarted := time.Now()
	for _, nd := range c.nodes {
		c.start(nd)
	}
	durVerify(t, c, cls, acked, 30*time.Second)
	t.Logf("%s round 2: all three killed at once with %d puts acknowledged; every one present %s after the restart",
		store, acked.count(), time.Since(restarted).Round(time.Millisecond))
}

// e2eSetLogStore adds cluster.raft.log_store to nd's config file.
func e2eSetLogStore(t *testing.T, nd *e2eNode, store string) {
	t.Helper()
	b, err := os.ReadFile(nd.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "  raft:\n", "  raft:\n    log_store: "+store+"\n", 1)
	if cfg == string(b) {
		t.Fatalf("%s: no raft section in %s", nd.name, nd.cfgPath)
	}
	if err := os.WriteFile(nd.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// durClients returns one SDK client per node, closed at cleanup. A client
// outlives its agent's restarts: gRPC reconnects.
func durClients(t *testing.T, c *e2eCluster) []*client.Client {
	t.Helper()
	out := make([]*client.Client, len(c.nodes))
	for i, nd := range c.nodes {
		cl, err := client.New(nd.grpcAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		out[i] = cl
	}
	return out
}

// durLeader waits until every node names the same leader, which says it
// leads, and three voters, and returns that node.
func durLeader(t *testing.T, c *e2eCluster, cls []*client.Client, start time.Time, timeout time.Duration) *e2eNode {
	t.Helper()
	var leader string
	e2eWait(t, start, timeout, "three agents agree on a leader and 3 voters", func() (bool, string) {
		names := map[string]bool{}
		self := ""
		for i, cl := range cls {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cl.RaftStatus(ctx)
			cancel()
			if err != nil {
				return false, c.nodes[i].name + ": " + err.Error()
			}
			voters := 0
			for _, s := range st.Servers {
				if s.Suffrage == "voter" {
					voters++
				}
			}
			if st.LeaderID == "" || voters != 3 {
				return false, fmt.Sprintf("%s: leader %q, %d voters", c.nodes[i].name, st.LeaderID, voters)
			}
			names[st.LeaderID] = true
			if st.State == "leader" {
				self = st.Node
			}
		}
		if len(names) != 1 || !names[self] {
			return false, fmt.Sprintf("leaders named %v, self-declared %q", names, self)
		}
		leader = self
		return true, ""
	})
	return c.byName(leader)
}

// durAcks is the record of acknowledged puts: key -> value.
type durAcks struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *durAcks) add(k, v string) {
	a.mu.Lock()
	a.m[k] = v
	a.mu.Unlock()
}

func (a *durAcks) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}

func (a *durAcks) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.m))
	for k, v := range a.m {
		out[k] = v
	}
	return out
}

// waitCount waits until at least n puts have been acknowledged.
func (a *durAcks) waitCount(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	e2eWait(t, time.Now(), timeout, fmt.Sprintf("%d acknowledged puts", n), func() (bool, string) {
		got := a.count()
		return got >= n, fmt.Sprintf("%d acknowledged", got)
	})
}

// durWriterSet is the goroutines that put unique keys; stop ends them and
// waits.
type durWriterSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startDurWriters starts durWriters writers. Writer w puts
// dur/<round>/<w>/<seq> through node w, and on any error moves to the next
// node; only a put that returned without error is recorded. Unique keys
// make the check exact: a put whose outcome is unknown may or may not be
// there, but never hides an acknowledged one.
func startDurWriters(t *testing.T, cls []*client.Client, acked *durAcks, round string) *durWriterSet {
	ctx, cancel := context.WithCancel(context.Background())
	s := &durWriterSet{cancel: cancel}
	for w := range durWriters {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			node := w % len(cls)
			for seq := 0; ctx.Err() == nil; seq++ {
				key := fmt.Sprintf("dur/%s/%d/%06d", round, w, seq)
				val := fmt.Sprintf("%s-%d-%d", round, w, seq)
				pctx, pcancel := context.WithTimeout(ctx, durPutTimeout)
				_, err := cls[node].KV().Put(pctx, key, []byte(val))
				pcancel()
				if err != nil {
					node = (node + 1) % len(cls)
					continue
				}
				acked.add(key, val)
			}
		}()
	}
	t.Cleanup(s.stop)
	return s
}

func (s *durWriterSet) stop() {
	s.cancel()
	s.wg.Wait()
}

// durVerify waits until the cluster has a leader and three voters, then
// requires every acknowledged key with its value in a consistent read, and
// in a stale read of every node's own replica once it has caught up.
func durVerify(t *testing.T, c *e2eCluster, cls []*client.Client, acked *durAcks, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	durLeader(t, c, cls, start, timeout)
	want := acked.snapshot()
	for i, mode := range []client.ReadMode{client.ReadConsistent, client.ReadStale, client.ReadStale, client.ReadStale} {
		cl := cls[max(i-1, 0)]
		what := fmt.Sprintf("%s read through %s", mode, c.nodes[max(i-1, 0)].name)
		var missing []string
		e2eWait(t, start, timeout, what+" lists every acknowledged key", func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			entries, err := cl.KV().List(ctx, "dur/", mode)
			cancel()
			if err != nil {
				return false, err.Error()
			}
			got := make(map[string]string, len(entries))
			for _, e := range entries {
				got[e.Key] = string(e.Value)
			}
			missing = missing[:0]
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					missing = append(missing, fmt.Sprintf("%s=%q (have %q)", k, v, g))
				}
			}
			if mode == client.ReadConsistent && len(missing) > 0 {
				// The leader's answer is final: an acknowledged write
				// it does not have is lost.
				sort.Strings(missing)
				t.Fatalf("%s: %d of %d acknowledged puts lost, first: %s", what, len(missing), len(want),
					strings.Join(missing[:min(5, len(missing))], ", "))
			}
			return len(missing) == 0, fmt.Sprintf("%d of %d missing", len(missing), len(want))
		})
	}
}
