package cluster_test

import (
	"context"
	"errors"
	"fmt"
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

const (
	semChaosName  = "semchaos/batch"
	semChaosFence = "semchaos/fenced"
	semChaosLimit = 3
)

// TestSemaphoreChaosNeverOverLimit: three sessions on every node of a
// 3-node cluster hammer one semaphore of 3 (acquire with a wait, register
// the slot's token with a fenced resource, release) while the test kills
// the leader and the node of a holder (twice each, restarting it).
//
// What is checked, as in TestLockChaosNeverTwoHolders (believed holders on a
// killed node are not evidence, so only what the FSM proves counts):
//
//  1. Tokens are unique across every grant.
//  2. Never more than 3 holders, from the FSM history: a grant committed
//     before Acquire returned, and a release that succeeded committed after
//     it began, so each hold released OK was a holder in the FSM throughout
//     [acquired, release began]. No instant may lie in four such intervals.
//  3. The fenced resource (a KV key that every holder appends its token
//     to by compare-and-set, after a linearizable read of the semaphore
//     shows the token among the holders) records each token once, only
//     tokens that were granted, and never more than 3 tokens that the
//     semaphore showed as holders at the same read.
//  4. Every replica view shows at most 3 holders, and one holder per token.
//  5. Afterwards the semaphore is free on every node.
func TestSemaphoreChaosNeverOverLimit(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitLeader(30 * time.Second)
	waitRoles(t, c, 30*time.Second, 3, 0, 0)
	h := &semHistory{seen: map[uint64]string{}, errs: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	startWorkers := func(n *testcluster.Node) {
		for i := range 3 {
			w := &semWorker{n: n.Node, name: fmt.Sprintf("%s#%d", n.Name, i), node: n.Name, h: h, stop: stop}
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.run()
			}()
		}
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			close(stop)
			stopped = true
		}
		wg.Wait()
	}
	defer stopWorkers()
	for _, n := range c.Running() {
		startWorkers(n)
	}
	begin := time.Now()
	progress := func(what string) {
		t.Helper()
		mark := time.Now()
		testcluster.WaitFor(t, 60*time.Second, what, func() bool { return h.grantsSince(mark) >= 6 })
	}
	progress("the first grants")

	killLeader := func() {
		l := c.WaitLeader(30 * time.Second)
		t.Logf("%6s kill the leader %s", sinceStr(begin), l.Name)
		c.Kill(l)
		progress("grants after the leader was killed")
		c.Restart(l)
		startWorkers(l)
		progress("grants after the old leader restarted")
	}
	killHolderNode := func() {
		l := c.WaitLeader(30 * time.Second)
		var victim *testcluster.Node
		var info cluster.SemInfo
		testcluster.WaitFor(t, 30*time.Second, "a holder on a follower", func() bool {
			var err error
			info, err = l.Locks().SemInspect(ctxT(t), semChaosName, cluster.ReadDefault)
			if err != nil {
				return false
			}
			for _, hd := range info.Holders {
				if v := chaosNode(c, locks.NodeOf(hd.PID)); v != nil && v != l && v.Running() {
					victim = v
					return true
				}
			}
			return false
		})
		t.Logf("%6s kill %s, which holds a slot (%d holders)", sinceStr(begin), victim.Name, len(info.Holders))
		c.Kill(victim)
		// Its slots are freed when the cluster declares the node gone: the
		// survivors then hold all three slots between them.
		testcluster.WaitFor(t, 60*time.Second, "the dead node's slots freed", func() bool {
			cur, err := l.Locks().SemInspect(ctxT(t), semChaosName, cluster.ReadDefault)
			if err != nil {
				return false
			}
			for _, hd := range cur.Holders {
				if locks.NodeOf(hd.PID) == victim.Name {
					return false
				}
			}
			return true
		})
		progress("grants after a holder's node was killed")
		c.Restart(victim)
		startWorkers(victim)
		progress("grants after the holder's node restarted")
	}
	for range 2 {
		killLeader()
		killHolderNode()
	}
	stopWorkers()
	t.Logf("%6s faults over; workers stopped", sinceStr(begin))

	leader := c.WaitLeader(30 * time.Second)
	testcluster.WaitFor(t, 60*time.Second, "the semaphore free on every node", func() bool {
		for _, n := range c.Running() {
			ss, err := n.Locks().SemList(ctxT(t), "semchaos/", cluster.ReadStale)
			if err != nil || len(ss) != 0 {
				return false
			}
		}
		return true
	})
	final, err := leader.KV().Get(ctxT(t), semChaosFence, cluster.ReadDefault)
	if err != nil {
		t.Fatalf("read the fenced resource: %v", err)
	}
	h.check(t, string(final.Value))
}

type semHold struct {
	pid, node string
	token     uint64
	acquired  time.Time
	relStart  time.Time
	released  bool // the release succeeded
	fenced    bool // the fenced resource recorded the token
}

type semHistory struct {
	mu    sync.Mutex
	holds []*semHold
	seen  map[uint64]string
	bad   []string
	errs  map[string]int
}

func (h *semHistory) grantsSince(mark time.Time) int {
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

func (h *semHistory) violation(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bad = append(h.bad, fmt.Sprintf(format, args...))
}

func (h *semHistory) count(op string, err error) {
	class := "other"
	for _, e := range []error{cluster.ErrWaitExpired, cluster.ErrUnavailable, cluster.ErrNoSession,
		cluster.ErrShutdown, cluster.ErrNotHolder, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			class = e.Error()
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs[op+": "+class]++
}

func (h *semHistory) add(hd *semHold) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holds = append(h.holds, hd)
}

// see records a replica's view: at most the limit, one holder per token.
func (h *semHistory) see(node string, info cluster.SemInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(info.Holders) > semChaosLimit {
		h.bad = append(h.bad, fmt.Sprintf("replica %s shows %d holders: %+v", node, len(info.Holders), info.Holders))
	}
	for _, hd := range info.Holders {
		if prev, ok := h.seen[hd.Token]; ok && prev != hd.PID {
			h.bad = append(h.bad, fmt.Sprintf("replica %s shows token %d held by %s; another showed %s", node, hd.Token, hd.PID, prev))
		}
		h.seen[hd.Token] = hd.PID
	}
}

func (h *semHistory) check(t *testing.T, fence string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	bad := append([]string(nil), h.bad...)
	granted := map[uint64]*semHold{}
	type edge struct {
		at    time.Time
		delta int
		tok   uint64
	}
	var edges []edge
	released := 0
	for _, hd := range h.holds {
		// 1. unique tokens
		if prev, dup := granted[hd.token]; dup {
			bad = append(bad, fmt.Sprintf("token %d returned twice: to %s and %s", hd.token, prev.pid, hd.pid))
		}
		granted[hd.token] = hd
		if holder, ok := h.seen[hd.token]; ok && holder != hd.pid {
			bad = append(bad, fmt.Sprintf("token %d returned to %s but a replica shows %s", hd.token, hd.pid, holder))
		}
		if hd.released {
			released++
			edges = append(edges, edge{hd.acquired, +1, hd.token}, edge{hd.relStart, -1, hd.token})
		}
	}
	// 2. the FSM-proved intervals never overlap four deep. Ends sort
	// before starts at the same instant: the proof is of open intervals.
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	depth, maxDepth := 0, 0
	for _, e := range edges {
		depth += e.delta
		if depth > semChaosLimit {
			bad = append(bad, fmt.Sprintf("%d holders proved at once at %s (token %d)", depth, e.at.Format(time.StampMicro), e.tok))
		}
		maxDepth = max(maxDepth, depth)
	}
	// 3. the fenced resource
	recorded := map[uint64]bool{}
	for _, f := range strings.Fields(fence) {
		tok, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			bad = append(bad, fmt.Sprintf("fenced resource holds %q", f))
			continue
		}
		if recorded[tok] {
			bad = append(bad, fmt.Sprintf("fenced resource recorded token %d twice", tok))
		}
		recorded[tok] = true
		if granted[tok] == nil {
			bad = append(bad, fmt.Sprintf("fenced resource recorded token %d that no grant returned", tok))
		}
	}
	fenced := 0
	for _, hd := range h.holds {
		if hd.fenced {
			fenced++
			if !recorded[hd.token] {
				bad = append(bad, fmt.Sprintf("token %d was recorded by the fenced resource but is missing from it", hd.token))
			}
		}
	}
	t.Logf("%d grants (%d released OK, max %d proved at once), %d recorded by the fenced resource, %d replica views; errors %v",
		len(h.holds), released, maxDepth, len(recorded), len(h.seen), h.errs)
	if released == 0 || fenced == 0 {
		bad = append(bad, "no grant was released OK and fenced: the run proved nothing")
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// semWorker is one application session on one node incarnation.
type semWorker struct {
	n          *cluster.Node
	name, node string
	h          *semHistory
	stop       <-chan struct{}
}

func (w *semWorker) done() bool {
	select {
	case <-w.stop:
		return true
	case <-w.n.Done():
		return true
	default:
		return false
	}
}

func (w *semWorker) run() {
	for !w.done() {
		octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := w.n.OpenSession(octx, 10*time.Second)
		cancel()
		if errors.Is(err, cluster.ErrShutdown) {
			return
		}
		if err != nil {
			w.h.count("open", err)
			continue
		}
		w.session(s)
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.Close(cctx); err != nil {
			w.h.count("close", err)
		}
		cancel()
	}
}

func (w *semWorker) session(s *cluster.Session) {
	for !w.done() {
		s.Keepalive()
		actx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		tok, err := w.n.Locks().SemAcquire(actx, s.PID(), semChaosName, semChaosLimit, 2*time.Second)
		cancel()
		if errors.Is(err, cluster.ErrWaitExpired) {
			w.h.count("acquire", err)
			continue
		}
		if err != nil {
			w.h.count("acquire", err)
			return
		}
		hd := &semHold{pid: s.PID(), node: w.node, token: tok, acquired: time.Now()}
		w.observe()
		s.Keepalive()
		hd.fenced = w.fencedRecord(s.PID(), tok)
		s.Keepalive()
		hd.relStart = time.Now()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = w.n.Locks().SemRelease(rctx, s.PID(), semChaosName)
		cancel()
		hd.released = err == nil
		if err != nil {
			w.h.count("release", err)
		}
		w.h.add(hd)
		w.observe()
		if err != nil {
			return
		}
	}
}

func (w *semWorker) observe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := w.n.Locks().SemInspect(ctx, semChaosName, cluster.ReadStale)
	if err == nil {
		w.h.see(w.node, info)
	}
}

// fencedRecord appends token to the fenced resource if a linearizable read
// of the semaphore shows pid holding it with that token; the resource also
// checks that no more than the limit of the tokens it admits are current
// holders at that read.
func (w *semWorker) fencedRecord(pid string, token uint64) bool {
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := w.n.Locks().SemInspect(ctx, semChaosName, cluster.ReadConsistent)
		if err != nil {
			cancel()
			w.h.count("fence read", err)
			return false
		}
		holding := false
		for _, hd := range info.Holders {
			holding = holding || (hd.PID == pid && hd.Token == token)
		}
		if !holding {
			cancel() // the cluster freed the slot: the resource refuses it
			return false
		}
		if len(info.Holders) > semChaosLimit {
			w.h.violation("a linearizable read shows %d holders", len(info.Holders))
		}
		var old string
		var version uint64
		e, err := w.n.KV().Get(ctx, semChaosFence, cluster.ReadConsistent)
		switch {
		case errors.Is(err, cluster.ErrNotFound):
		case err != nil:
			cancel()
			w.h.count("fence read", err)
			return false
		default:
			old, version = string(e.Value), e.Version
		}
		_, err = w.n.KV().CompareAndSet(ctx, semChaosFence, []byte(old+" "+strconv.FormatUint(token, 10)), version)
		cancel()
		switch {
		case err == nil:
			return true
		case errors.Is(err, cluster.ErrVersionMismatch):
		default:
			w.h.count("fence write", err)
			return false
		}
	}
	return false
}
