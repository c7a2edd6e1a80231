package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// members is the size of each cluster under test.
const members = 3

// system is one of the systems under test: three members running as
// processes on 127.0.0.1. Members are numbered 0, 1, 2.
type system interface {
	// leader is the member every running member names as leader.
	leader(ctx context.Context) (int, error)
	// dial connects a new client to member m only (no other endpoint).
	dial(ctx context.Context, m int) (peerClient, error)
	// kill sends member m SIGKILL and waits for it to be reaped.
	kill(m int)
	// restart starts member m again on its data dir and waits until the
	// cluster has a leader that all three members name again.
	restart(ctx context.Context, m int) error
}

// peerClient is one client connection, each system's own Go client.
type peerClient interface {
	put(ctx context.Context, key string, value []byte) error
	// get is a linearizable read of key, which must exist.
	get(ctx context.Context, key string) error
	// session opens a session (etcd: a lease kept alive; conclave: a
	// session stream) for locks and created keys.
	session(ctx context.Context) (peerSession, error)
	close()
}

// peerSession holds locks and session-bound keys.
type peerSession interface {
	// lock takes the lock name, queueing while another session holds it,
	// and returns the function that releases it.
	lock(ctx context.Context, name string) (unlock func(context.Context) error, err error)
	// create creates key bound to the session only if it is absent; it
	// fails if the key exists.
	create(ctx context.Context, key string) error
	// remove deletes key, created by create.
	remove(ctx context.Context, key string) error
	close()
}

// settings are the harness's knobs, from the command line.
type settings struct {
	warmup, duration time.Duration
	opTimeout        time.Duration
	killWrite        time.Duration // bound on one write of the kill writer
	kills            int
	rounds           int            // runs of each system, alternated
	clients          int            // the "16" of the multi-client workloads
	only             *regexp.Regexp // rows to run (nil: all); the kills are a row named "kill"
	systems          []string       // etcd, conclave: which to run
}

// result is one row's figure for one system.
type result struct {
	value float64 // ops/s
}

// op is one operation of a worker; it returns how many units to count
// (1 for an operation, 0 or 1 for a hand-off).
type op func(ctx context.Context) (int, error)

// measure runs each op in its own goroutine, back to back, for s.warmup
// and then s.duration, and returns the units completed during the second
// part per second. Any error stops every worker and is returned.
func measure(parent context.Context, s settings, ops []op) (float64, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	begin := time.Now().Add(s.warmup)
	end := begin.Add(s.duration)
	var (
		counted atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		opErr   error
	)
	for i, o := range ops {
		wg.Go(func() {
			for ctx.Err() == nil {
				octx, ocancel := context.WithTimeout(ctx, s.opTimeout)
				n, err := o(octx)
				ocancel()
				now := time.Now()
				if ctx.Err() != nil {
					return // stopping: this op may have been cut short
				}
				if err != nil {
					errOnce.Do(func() { opErr = fmt.Errorf("worker %d: %w", i, err) })
					cancel()
					return
				}
				if now.After(begin) && !now.After(end) {
					counted.Add(int64(n))
				}
			}
		})
	}
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	if opErr != nil {
		return 0, opErr
	}
	if err := parent.Err(); err != nil {
		return 0, err
	}
	return float64(counted.Load()) / s.duration.Seconds(), nil
}

// bench is one measurement on a system: it connects what it needs, runs,
// and releases every client and session it opened.
type bench struct {
	sys  system
	s    settings
	open []func() // closers, run in reverse order by release
}

func (b *bench) release() {
	for i := len(b.open) - 1; i >= 0; i-- {
		b.open[i]()
	}
	b.open = nil
}

// clients connects one client to each of ms.
func (b *bench) clients(ctx context.Context, ms []int) ([]peerClient, error) {
	out := make([]peerClient, len(ms))
	for i, m := range ms {
		c, err := b.sys.dial(ctx, m)
		if err != nil {
			return nil, err
		}
		b.open = append(b.open, c.close)
		out[i] = c
	}
	return out, nil
}

// sessions opens one session, over its own client, on each of ms.
func (b *bench) sessions(ctx context.Context, ms []int) ([]peerSession, error) {
	cls, err := b.clients(ctx, ms)
	if err != nil {
		return nil, err
	}
	out := make([]peerSession, len(cls))
	for i, c := range cls {
		sctx, cancel := context.WithTimeout(ctx, b.s.opTimeout)
		ss, err := c.session(sctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("session on member %d: %w", ms[i], err)
		}
		b.open = append(b.open, ss.close)
		out[i] = ss
	}
	return out, nil
}

// spread places k clients round-robin over the three members.
func spread(k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = i % members
	}
	return out
}

// follower is a member other than leader.
func follower(leader int) int { return (leader + 1) % members }

// placement says where a workload's clients connect.
type placement int

const (
	onLeader   placement = iota // one client, on the leader
	onFollower                  // one client, on a follower
	spreadOut                   // settings.clients clients round-robin over the members
)

func (b *bench) place(ctx context.Context, p placement) ([]int, error) {
	if p == spreadOut {
		return spread(b.s.clients), nil
	}
	l, err := b.sys.leader(ctx)
	if err != nil {
		return nil, err
	}
	if p == onFollower {
		return []int{follower(l)}, nil
	}
	return []int{l}, nil
}

// value is the 256-byte value of every put; it is only read.
var value = make([]byte, 256)

// puts: each client puts 256 B to a key of its own, a new one each time.
func (b *bench) puts(ctx context.Context, p placement) (result, error) {
	ms, err := b.place(ctx, p)
	if err != nil {
		return result{}, err
	}
	cls, err := b.clients(ctx, ms)
	if err != nil {
		return result{}, err
	}
	ops := make([]op, len(cls))
	for i, c := range cls {
		seq := 0
		ops[i] = func(ctx context.Context) (int, error) {
			seq++
			return 1, c.put(ctx, fmt.Sprintf("bench/put/%02d/%09d", i, seq), value)
		}
	}
	return b.rate(ctx, ops)
}

// gets: each client reads one existing key, linearizably.
func (b *bench) gets(ctx context.Context, p placement) (result, error) {
	ms, err := b.place(ctx, p)
	if err != nil {
		return result{}, err
	}
	cls, err := b.clients(ctx, ms)
	if err != nil {
		return result{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, b.s.opTimeout)
	err = cls[0].put(wctx, "bench/get", value)
	cancel()
	if err != nil {
		return result{}, fmt.Errorf("writing the key to read: %w", err)
	}
	ops := make([]op, len(cls))
	for i, c := range cls {
		ops[i] = func(ctx context.Context) (int, error) { return 1, c.get(ctx, "bench/get") }
	}
	return b.rate(ctx, ops)
}

// locks: each session takes and releases a lock of its own.
func (b *bench) locks(ctx context.Context, p placement) (result, error) {
	ms, err := b.place(ctx, p)
	if err != nil {
		return result{}, err
	}
	ss, err := b.sessions(ctx, ms)
	if err != nil {
		return result{}, err
	}
	ops := make([]op, len(ss))
	for i, s := range ss {
		name := fmt.Sprintf("bench/lock/%d/%02d", p, i)
		ops[i] = func(ctx context.Context) (int, error) {
			unlock, err := s.lock(ctx, name)
			if err != nil {
				return 0, err
			}
			return 1, unlock(ctx)
		}
	}
	return b.rate(ctx, ops)
}

// handoffs: every session queues for one lock, releases it as soon as it
// is granted and queues again. A unit is a real change of holder: a grant
// to a session other than the one that held the lock last.
func (b *bench) handoffs(ctx context.Context) (result, error) {
	ss, err := b.sessions(ctx, spread(b.s.clients))
	if err != nil {
		return result{}, err
	}
	var holder atomic.Int64
	holder.Store(-1)
	ops := make([]op, len(ss))
	for i, s := range ss {
		ops[i] = func(ctx context.Context) (int, error) {
			unlock, err := s.lock(ctx, "bench/handoff")
			if err != nil {
				return 0, err
			}
			n := 0
			if holder.Swap(int64(i)) != int64(i) {
				n = 1
			}
			return n, unlock(ctx)
		}
	}
	return b.rate(ctx, ops)
}

// creates: each session creates a fresh key bound to it if absent (etcd:
// a txn on create revision 0 with the session's lease; conclave: a
// consistent name) and deletes it again. A unit is the pair.
func (b *bench) creates(ctx context.Context) (result, error) {
	ss, err := b.sessions(ctx, spread(b.s.clients))
	if err != nil {
		return result{}, err
	}
	ops := make([]op, len(ss))
	for i, s := range ss {
		seq := 0
		ops[i] = func(ctx context.Context) (int, error) {
			seq++
			key := fmt.Sprintf("bench/create/%02d/%09d", i, seq)
			if err := s.create(ctx, key); err != nil {
				return 0, err
			}
			return 1, s.remove(ctx, key)
		}
	}
	return b.rate(ctx, ops)
}

func (b *bench) rate(ctx context.Context, ops []op) (result, error) {
	r, err := measure(ctx, b.s, ops)
	return result{value: r}, err
}

// failover kills the leader with SIGKILL s.kills times while a writer
// writes back to back through a surviving member, and returns each time
// from the kill to the end of the first successful write issued after it.
// Each write is bounded by s.killWrite and retried at once, as an
// application with a short deadline would: an etcd member without a
// leader holds a write until its request timeout (7 s with the default
// timings) instead of failing it, so a long bound would measure that
// timeout rather than the election. The killed member is restarted, and
// the cluster settled, between kills.
func failover(ctx context.Context, sys system, s settings) ([]time.Duration, error) {
	var out []time.Duration
	for k := range s.kills {
		d, err := killOnce(ctx, sys, s)
		if err != nil {
			return out, fmt.Errorf("kill %d: %w", k+1, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// settleTimeout bounds forming a cluster, electing after a kill, and a
// restarted member's return.
const settleTimeout = 60 * time.Second

func killOnce(ctx context.Context, sys system, s settings) (time.Duration, error) {
	leader, err := sys.leader(ctx)
	if err != nil {
		return 0, err
	}
	c, err := sys.dial(ctx, follower(leader))
	if err != nil {
		return 0, err
	}
	defer c.close()

	wctx, stop := context.WithCancel(ctx)
	var (
		killAt atomic.Int64 // unix ns; 0 until the kill
		warm   = make(chan struct{})
		first  = make(chan time.Time, 1)
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		warmed := false
		for seq := 0; wctx.Err() == nil; seq++ {
			start := time.Now()
			octx, cancel := context.WithTimeout(wctx, s.killWrite)
			err := c.put(octx, fmt.Sprintf("bench/kill/%09d", seq), value)
			cancel()
			end := time.Now()
			if err != nil {
				// Expected around the kill: write again, after a pause
				// short against an election, so that a client that fails
				// fast does not take a core from the survivors.
				sleepCtx(wctx, 5*time.Millisecond)
				continue
			}
			if !warmed {
				warmed = true
				close(warm)
			}
			// A write issued before the kill may have been committed by
			// the old leader: only one issued after it proves a new one.
			if k := killAt.Load(); k != 0 && start.UnixNano() >= k {
				first <- end
				return
			}
		}
	})
	defer func() { stop(); wg.Wait() }()

	select {
	case <-warm:
	case <-time.After(settleTimeout):
		return 0, errors.New("the writer made no write before the kill")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	killed := time.Now()
	killAt.Store(killed.UnixNano())
	sys.kill(leader)
	var wrote time.Time
	select {
	case wrote = <-first:
	case <-time.After(settleTimeout):
		return 0, fmt.Errorf("no successful write within %s of killing member %d", settleTimeout, leader)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	stop()
	wg.Wait()
	if err := sys.restart(ctx, leader); err != nil {
		return 0, fmt.Errorf("restarting member %d: %w", leader, err)
	}
	return wrote.Sub(killed), nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// medianMax returns the median and the maximum of ds, which must not be
// empty.
func medianMax(ds []time.Duration) (time.Duration, time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[n-1]
}
