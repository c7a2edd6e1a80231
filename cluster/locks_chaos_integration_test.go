package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/locks"
)

// TestLockChaosNeverTwoHolders: a session on every node of a 5-node cluster
// hammers ONE lock (acquire with a wait, write the fenced resource, release)
// while the test kills the leader, cuts the holder's node off from the
// majority, heals, and kills and restarts nodes. The short version (two
// rounds of the three faults, about 10 s) runs in make test; CONCLAVE_CHAOS=long runs random
// faults for CONCLAVE_CHAOS_DURATION (default 3m; give go test a -timeout
// above it). CONCLAVE_CHAOS_SEED replays a run's choice of nodes and faults.
//
// The checker. A holder cannot know when it stopped holding: a holder on a
// cut-off node keeps believing it holds after the cluster has released its
// lock and granted it again. So "no two believed holders at once" is not a
// property the system has, and the checker does not assert it. It asserts
// what must hold:
//
//  1. Tokens are unique: no two grants returned the same token.
//  2. Exclusion where the FSM proves it. A release that succeeded proves the
//     releaser was still the holder when the release entry R committed (else
//     ErrNotHolder; a release also succeeds for a session still queued, which
//     it cancels, but a session that was truly granted the lock is no longer
//     queued), and a later grant (higher token) of the lock to anyone else
//     commits after R. So for every hold A released OK and every hold B with
//     a higher token, B's acquire returned after A's release began:
//     relStart(A) < commit(R) < commit(T_B) < acquired(B).
//  3. The fenced resource (a KV key written by compare-and-set after a
//     linearizable read, accepting only a token above the stored one) only
//     ever stores increasing tokens, and a holder it refuses as stale (a
//     higher token is stored) must have lost the lock: its release must not
//     succeed. A refused holder whose release succeeded would mean a higher
//     token was granted while it still held the lock in the FSM.
//  4. Replicas agree: every node's replica, read as the run goes, shows one
//     holder per token, the one the grant was returned to.
//  5. Afterwards, with every session closed, the lock is free on every node
//     and the fenced resource holds at least every token it accepted.
//
// Progress is checked too: every fault is followed by new grants.
func TestLockChaosNeverTwoHolders(t *testing.T) {
	long := os.Getenv("CONCLAVE_CHAOS") == "long"
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CONCLAVE_CHAOS_SEED"), 10, 64); err == nil {
		seed = v
	}
	duration := 3 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("CONCLAVE_CHAOS_DURATION")); err == nil && d > 0 {
		duration = d
	}
	t.Logf("chaos seed %d (CONCLAVE_CHAOS_SEED=%d replays the choices), long=%v", seed, seed, long)
	rng := rand.New(rand.NewPCG(seed, seed))

	c := testcluster.New(t, 5, testcluster.Options{})
	c.WaitLeader(30 * time.Second)
	waitRoles(t, c, 30*time.Second, 5, 0, 0) // the faults, not the initial promotions
	h := &chaosHistory{seen: map[uint64]string{}, errs: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	startWorker := func(n *testcluster.Node) {
		w := &chaosWorker{n: n.Node, name: n.Name, h: h, stop: stop}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run()
		}()
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			close(stop)
			stopped = true
		}
		wg.Wait()
	}
	defer stopWorkers() // also on t.Fatal, before the cluster's cleanup
	for _, n := range c.Running() {
		startWorker(n)
	}

	begin := time.Now()
	// progress waits for grants acquired after now: proof the cluster is
	// serving the lock again, not just finishing grants already under way.
	progress := func(what string) {
		t.Helper()
		mark := time.Now()
		testcluster.WaitFor(t, 60*time.Second, what, func() bool { return h.grantsSince(mark) >= 5 })
	}
	progress("the first grants")

	killLeader := func() {
		l := c.WaitLeader(30 * time.Second)
		t.Logf("%6s kill the leader %s", sinceStr(begin), l.Name)
		c.Kill(l)
		progress("grants after the leader was killed")
		c.Restart(l)
		startWorker(l)
		progress("grants after the old leader restarted")
	}
	isolateHolder := func() {
		l := c.WaitLeader(30 * time.Second)
		var info cluster.LockInfo
		var victim *testcluster.Node
		testcluster.WaitFor(t, 30*time.Second, "a holder to cut off", func() bool {
			var err error
			info, err = l.Locks().Inspect(ctxT(t), chaosLock, cluster.ReadDefault)
			if err != nil || info.Holder == "" {
				return false
			}
			victim = chaosNode(c, locks.NodeOf(info.Holder))
			return victim != nil && victim.Running()
		})
		t.Logf("%6s cut the holder's node %s (token %d) off from the majority", sinceStr(begin), victim.Name, info.Token)
		c.Isolate(victim)
		testcluster.WaitFor(t, 60*time.Second, "the lock granted on the majority side", func() bool {
			return h.maxTokenOffNode(victim.Name) > info.Token
		})
		c.Heal()
		progress("grants after the heal")
	}
	killRestart := func() {
		l := c.WaitLeader(30 * time.Second)
		others := lkFollowers(c, l)
		v := others[rng.IntN(len(others))]
		t.Logf("%6s kill and restart %s", sinceStr(begin), v.Name)
		c.Kill(v)
		c.Restart(v)
		startWorker(v)
		progress("grants after a node restarted")
	}
	faults := []func(){killLeader, isolateHolder, killRestart}
	if long {
		for time.Since(begin) < duration {
			faults[rng.IntN(len(faults))]()
		}
	} else {
		for range 2 {
			for _, f := range faults {
				f()
			}
		}
	}
	stopWorkers()
	t.Logf("%6s faults over; workers stopped", sinceStr(begin))

	// Every worker closed its session; sessions of killed incarnations were
	// released by their node's restart or by the leader. The lock ends free
	// on every replica.
	c.Heal()
	leader := c.WaitLeader(30 * time.Second)
	testcluster.WaitFor(t, 60*time.Second, "the lock free on every node", func() bool {
		for _, n := range c.Running() {
			ls, err := n.Locks().List(ctxT(t), "chaos/", cluster.ReadStale)
			if err != nil || len(ls) != 0 {
				return false
			}
		}
		return true
	})
	final, err := leader.KV().Get(ctxT(t), chaosFence, cluster.ReadDefault)
	if err != nil {
		t.Fatalf("read the fenced resource: %v", err)
	}
	h.check(t, fenceToken(final.Value))
}

const (
	chaosLock  = "chaos/one"
	chaosFence = "chaos/fenced"
)

func sinceStr(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

func chaosNode(c *testcluster.Cluster, name string) *testcluster.Node {
	for _, n := range c.Nodes() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func fenceToken(v []byte) uint64 {
	tok, _ := strconv.ParseUint(string(v), 10, 64)
	return tok
}

type fenceOutcome int

const (
	fenceUnknown fenceOutcome = iota // the resource could not be reached
	fenceWritten                     // the resource accepted the token
	fenceStale                       // the resource refused it: a higher token is stored
)

type releaseOutcome int

const (
	releaseUnknown   releaseOutcome = iota // no answer (no quorum, node stopping)
	releaseOK                              // the FSM released the lock from this holder
	releaseNotHolder                       // the cluster had already released it
)

// chaosHold is one grant as its holder saw it.
type chaosHold struct {
	pid, node string
	token     uint64
	acquired  time.Time // Locks().Acquire returned the grant
	fence     fenceOutcome
	staleBy   uint64    // the stored token that refused this one
	relStart  time.Time // Locks().Release was called
	release   releaseOutcome
}

// chaosHistory collects what every worker saw.
type chaosHistory struct {
	mu       sync.Mutex
	holds    []*chaosHold
	accepted []fenceWrite
	seen     map[uint64]string // token -> holder, from replica reads
	bad      []string          // violations found while running
	errs     map[string]int    // errors by class, for the log
}

type fenceWrite struct{ version, token uint64 }

func (h *chaosHistory) grantsSince(mark time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, hd := range h.holds {
		if hd.acquired.After(mark) {
			n++
		}
	}
	return n
}

func (h *chaosHistory) violation(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bad = append(h.bad, fmt.Sprintf(format, args...))
}

func (h *chaosHistory) count(op string, err error) {
	class := "other"
	for _, e := range []error{cluster.ErrWaitExpired, cluster.ErrUnavailable, cluster.ErrNoSession,
		cluster.ErrShutdown, cluster.ErrNotHolder, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			class = strings.TrimPrefix(e.Error(), "cluster: ")
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs[op+": "+class]++
}

func (h *chaosHistory) maxTokenOffNode(node string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var top uint64
	for _, hd := range h.holds {
		if hd.node != node && hd.token > top {
			top = hd.token
		}
	}
	return top
}

func (h *chaosHistory) add(hd *chaosHold) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holds = append(h.holds, hd)
}

// see records a replica's view of the lock: one holder per token, ever.
func (h *chaosHistory) see(node string, token uint64, holder string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.seen[token]; ok && prev != holder {
		h.bad = append(h.bad, fmt.Sprintf("replica %s shows token %d held by %s; another replica showed %s", node, token, holder, prev))
		return
	}
	h.seen[token] = holder
}

func (h *chaosHistory) check(t *testing.T, finalFence uint64) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	bad := append([]string(nil), h.bad...)
	holds := append([]*chaosHold(nil), h.holds...)
	sort.Slice(holds, func(i, j int) bool { return holds[i].token < holds[j].token })

	var ok, lost, unknown, stale, written int
	var lastOK *chaosHold // the released-OK hold with the latest release start so far
	for i, b := range holds {
		// 1. unique tokens
		if i > 0 && holds[i-1].token == b.token {
			bad = append(bad, fmt.Sprintf("token %d returned twice: to %s and %s", b.token, holds[i-1].pid, b.pid))
		}
		// 2. exclusion proved by successful releases
		if lastOK != nil && lastOK.token < b.token && b.acquired.Before(lastOK.relStart) {
			bad = append(bad, fmt.Sprintf("%s got token %d at %s, before %s (token %d, released OK) began its release at %s",
				b.pid, b.token, b.acquired.Format(time.StampMicro), lastOK.pid, lastOK.token, lastOK.relStart.Format(time.StampMicro)))
		}
		if b.release == releaseOK && (lastOK == nil || b.relStart.After(lastOK.relStart)) {
			lastOK = b
		}
		// 3. a holder refused as stale had lost the lock
		if b.fence == fenceStale && b.release == releaseOK {
			bad = append(bad, fmt.Sprintf("%s (token %d) was refused by the fenced resource (token %d stored) yet released the lock OK: a higher token was granted while it held",
				b.pid, b.token, b.staleBy))
		}
		// 4. the replicas agree with the grant
		if holder, seen := h.seen[b.token]; seen && holder != b.pid {
			bad = append(bad, fmt.Sprintf("token %d was returned to %s but a replica shows it held by %s", b.token, b.pid, holder))
		}
		switch b.release {
		case releaseOK:
			ok++
		case releaseNotHolder:
			lost++
		default:
			unknown++
		}
		switch b.fence {
		case fenceStale:
			stale++
		case fenceWritten:
			written++
		}
	}
	// 3. the resource's accepted tokens, in write order, only increase
	acc := append([]fenceWrite(nil), h.accepted...)
	sort.Slice(acc, func(i, j int) bool { return acc[i].version < acc[j].version })
	for i := 1; i < len(acc); i++ {
		if acc[i].token <= acc[i-1].token {
			bad = append(bad, fmt.Sprintf("fenced resource accepted token %d (version %d) after token %d (version %d)",
				acc[i].token, acc[i].version, acc[i-1].token, acc[i-1].version))
		}
	}
	if n := len(acc); n > 0 && finalFence < acc[n-1].token {
		bad = append(bad, fmt.Sprintf("fenced resource ends at token %d, below the accepted %d", finalFence, acc[n-1].token))
	}
	if len(bad) > 0 {
		// The history, for whoever reads the failure (the last 1000 grants).
		for _, b := range holds[max(0, len(holds)-1000):] {
			t.Logf("token %d %s acquired %s release began %s fence %d release %d", b.token, b.pid,
				b.acquired.Format(time.StampMicro), b.relStart.Format(time.StampMicro), b.fence, b.release)
		}
	}
	t.Logf("%d grants: %d released OK, %d lost to the cluster (release refused), %d release unanswered; "+
		"fenced resource: %d written, %d refused as stale; %d replica views; errors %v",
		len(holds), ok, lost, unknown, written, stale, len(h.seen), h.errs)
	if len(holds) == 0 || ok == 0 {
		bad = append(bad, "no grant was released OK: the run proved nothing")
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// chaosWorker is one application on one node incarnation: it opens a
// session, and takes, uses and releases the lock until told to stop or its
// node stops. Every call has its own deadline, so it stops within seconds.
type chaosWorker struct {
	n    *cluster.Node
	name string
	h    *chaosHistory
	stop <-chan struct{}
}

func (w *chaosWorker) done() bool {
	select {
	case <-w.stop:
		return true
	case <-w.n.Done():
		return true
	default:
		return false
	}
}

func (w *chaosWorker) run() {
	for !w.done() {
		octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := w.n.OpenSession(octx, 10*time.Second)
		cancel()
		if errors.Is(err, cluster.ErrShutdown) {
			return // the node is stopping
		}
		if err != nil {
			w.h.count("open", err)
			continue
		}
		w.session(s)
		// A release the cluster cannot commit now is retried by the node.
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.Close(cctx); err != nil {
			w.h.count("close", err)
		}
		cancel()
	}
}

// session uses s until an error leaves its state unknown; the caller then
// closes it and starts afresh.
func (w *chaosWorker) session(s *cluster.Session) {
	for !w.done() {
		s.Keepalive()
		actx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		tok, err := w.n.Locks().Acquire(actx, s.PID(), chaosLock, cluster.AcquireOptions{Wait: 2 * time.Second})
		cancel()
		if errors.Is(err, cluster.ErrWaitExpired) {
			w.h.count("acquire", err)
			continue
		}
		if err != nil {
			w.h.count("acquire", err)
			return
		}
		hd := &chaosHold{pid: s.PID(), node: w.name, token: tok, acquired: time.Now()}
		w.observe()
		s.Keepalive()
		hd.fence, hd.staleBy = w.fencedWrite(s.PID(), tok)
		s.Keepalive()
		hd.relStart = time.Now()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = w.n.Locks().Release(rctx, s.PID(), chaosLock)
		cancel()
		switch {
		case err == nil:
			hd.release = releaseOK
		case errors.Is(err, cluster.ErrNotHolder):
			hd.release = releaseNotHolder
		default:
			w.h.count("release", err)
		}
		w.h.add(hd)
		w.observe()
		if hd.release != releaseOK {
			return
		}
	}
}

// observe reads the lock from this node's replica.
func (w *chaosWorker) observe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := w.n.Locks().Inspect(ctx, chaosLock, cluster.ReadStale)
	if err != nil || info.Holder == "" {
		return
	}
	w.h.see(w.name, info.Token, info.Holder)
}

// fencedWrite stores token in the fenced resource if no higher token is
// stored: a linearizable read, then a compare-and-set on the version read.
func (w *chaosWorker) fencedWrite(pid string, token uint64) (fenceOutcome, uint64) {
	sent := false // a compare-and-set went unanswered: it may have landed
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var stored, version uint64
		e, err := w.n.KV().Get(ctx, chaosFence, cluster.ReadConsistent)
		switch {
		case errors.Is(err, cluster.ErrNotFound):
		case err != nil:
			cancel()
			w.h.count("fence read", err)
			return fenceUnknown, 0
		default:
			stored, version = fenceToken(e.Value), e.Version
		}
		switch {
		case stored > token:
			cancel()
			return fenceStale, stored
		case stored == token:
			cancel()
			if !sent {
				w.h.violation("token %d of %s was in the fenced resource before its holder wrote it", token, pid)
				return fenceUnknown, 0
			}
			return fenceWritten, 0
		}
		e, err = w.n.KV().CompareAndSet(ctx, chaosFence, []byte(strconv.FormatUint(token, 10)), version)
		cancel()
		switch {
		case err == nil:
			w.h.mu.Lock()
			w.h.accepted = append(w.h.accepted, fenceWrite{version: e.Version, token: token})
			w.h.mu.Unlock()
			return fenceWritten, 0
		case errors.Is(err, cluster.ErrVersionMismatch):
			// Another (stale or newer) holder wrote in between: read again.
		default:
			w.h.count("fence write", err)
			sent = true
		}
	}
	return fenceUnknown, 0
}
