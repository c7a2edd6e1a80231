package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// moveAfter failed calls in a row move a client to its next target
	// (conclave: the next agent), so that one slow call on a busy machine
	// does not, but a member that stopped answering does.
	moveAfter = 2
	// retryPause separates a failed call from its retry: short against any
	// fault, it keeps a client whose calls fail at once (a refused
	// connection) from taking a core from the members.
	retryPause = 5 * time.Millisecond
)

// opSession names a session's opening in call.
const opSession = "session"

// clientKind is what a client of the schedule does.
type clientKind int

const (
	kvClient   clientKind = iota // read, write, compare-and-set of its own key, in a loop
	lockClient                   // lock + unlock of its own lock, in a loop
)

func (k clientKind) String() string {
	if k == kvClient {
		return "kv"
	}
	return "lock"
}

// faultClient is one client of the schedule and what it saw. Its fields
// are written by its goroutine only and read once that goroutine ended,
// except up, which the harness polls.
type faultClient struct {
	name    string // kind@member
	kind    clientKind
	key     string // its KV key, or its locks' prefix
	targets []faultTarget
	timeout time.Duration // bound on each call

	cur      int         // index of the target in use
	fails    int         // failed calls in a row
	ok       []time.Time // when each successful call returned
	failed   int         // failed calls
	moves    int         // moves to the next target
	sessions int         // sessions opened
	died     int         // sessions found ended
	up       atomic.Bool // set at the first successful call
	trace    bool        // keep every call in calls
	calls    []traced

	closers sync.WaitGroup // closing abandoned sessions
}

// call runs one call (op names it in the trace) bounded by the client's
// timeout and records it. It reports whether the call succeeded.
func (c *faultClient) call(ctx context.Context, op string, f func(ctx context.Context) error) bool {
	octx, cancel := context.WithTimeout(ctx, c.timeout)
	start := time.Now()
	err := f(octx)
	cancel()
	if ctx.Err() != nil {
		return false // stopping: the call may have been cut short
	}
	if c.trace {
		c.calls = append(c.calls, traced{start: start, end: time.Now(), op: op, target: c.cur, err: err})
	}
	if err == nil {
		// Opening a session is no operation of the lock client's: with
		// conclave it is the agent's alone, and succeeds without a leader.
		if op != opSession {
			c.ok = append(c.ok, time.Now())
			c.up.Store(true)
		}
		c.fails = 0
		return true
	}
	c.failed++
	c.fails++
	if c.fails >= moveAfter && len(c.targets) > 1 {
		c.cur = (c.cur + 1) % len(c.targets)
		c.fails = 0
		c.moves++
	}
	sleepCtx(ctx, retryPause)
	return false
}

// run is the client's loop, until ctx ends.
func (c *faultClient) run(ctx context.Context) {
	if c.kind == kvClient {
		c.runKV(ctx)
	} else {
		c.runLock(ctx)
	}
}

// runKV reads, writes and compares-and-sets its key in turn, each step
// retried until it succeeds. The compare-and-set expects the version the
// write returned: one that lost its answer to a deadline may have been
// applied, and then the comparison fails, which is still an answer.
func (c *faultClient) runKV(ctx context.Context) {
	var ver uint64
	for step := 0; ctx.Err() == nil; {
		t := c.targets[c.cur]
		var f func(ctx context.Context) error
		var v uint64
		switch step {
		case 0:
			f = func(ctx context.Context) (err error) { v, err = t.read(ctx, c.key); return err }
		case 1:
			f = func(ctx context.Context) (err error) { v, err = t.write(ctx, c.key, value); return err }
		default:
			f = func(ctx context.Context) (err error) { v, err = t.cas(ctx, c.key, value, ver); return err }
		}
		if c.call(ctx, [...]string{"read", "write", "cas"}[step], f) {
			ver, step = v, (step+1)%3
		}
	}
}

// runLock takes and releases a lock in a loop, over a session on its
// current target. It opens a new session when the old one ended or the
// client moved to another target; each session uses locks of its own
// (prefix/N), so that a lock an abandoned session may still hold never
// makes the new one wait. An unlock is retried until it succeeds or the
// session is gone.
func (c *faultClient) runLock(ctx context.Context) {
	var (
		s  faultSession
		on = -1 // the target s lives on
	)
	defer func() { c.abandon(s) }()
	for ctx.Err() == nil {
		if s != nil && (ended(s) || on != c.cur) {
			if ended(s) {
				c.died++
			}
			c.abandon(s)
			s = nil
		}
		if s == nil {
			t := c.targets[c.cur]
			on = c.cur
			if !c.call(ctx, opSession, func(ctx context.Context) (err error) { s, err = t.session(ctx); return err }) {
				continue
			}
			c.sessions++
		}
		name := fmt.Sprintf("%s/%d", c.key, c.sessions)
		var unlock func(context.Context) error
		if !c.call(ctx, "lock", func(ctx context.Context) (err error) { unlock, err = s.lock(ctx, name); return err }) {
			continue
		}
		for ctx.Err() == nil && !ended(s) && on == c.cur {
			if c.call(ctx, "unlock", unlock) {
				break
			}
		}
	}
}

// ended reports whether s has ended.
func ended(s faultSession) bool {
	select {
	case <-s.done():
		return true
	default:
		return false
	}
}

// abandon closes s in the background: closing waits for its agent, which
// may be down or cut off (conclave bounds it to 10 s; the harness closes
// the connections at the end, which ends it at once).
func (c *faultClient) abandon(s faultSession) {
	if s != nil {
		c.closers.Go(s.close)
	}
}

// stop closes the client's connections, once run has returned, and waits
// for the sessions being closed.
func (c *faultClient) stop() {
	for _, t := range c.targets {
		t.close()
	}
	c.closers.Wait()
}

// gap is a longest interval without a successful call.
type gap struct {
	length time.Duration
	from   time.Time
	client string // the client, for a per-client gap
}

// longestGap is the longest interval within [t0, end] between two
// successive times of ts (sorted), t0 and end counting as bounds.
func longestGap(ts []time.Time, t0, end time.Time) gap {
	var g gap
	last := t0
	for _, t := range ts {
		if t.Before(t0) {
			continue
		}
		if t.After(end) {
			break
		}
		if d := t.Sub(last); d > g.length {
			g = gap{length: d, from: last}
		}
		last = t
	}
	if d := end.Sub(last); d > g.length {
		g = gap{length: d, from: last}
	}
	return g
}

// kindStats is what the clients of one kind saw between t0 and end.
type kindStats struct {
	system    gap // no client of the kind succeeded
	perClient gap // the longest of any one client
	ok        int // successful calls
	failed    int
	moves     int
	renewed   int         // sessions opened after each client's first
	died      int         // sessions found ended
	all       []time.Time // every successful call of the kind, sorted
}

func statsOf(cls []*faultClient, kind clientKind, t0, end time.Time) kindStats {
	var (
		st  kindStats
		all []time.Time
	)
	for _, c := range cls {
		if c.kind != kind {
			continue
		}
		in := inWindow(c.ok, t0, end)
		all = append(all, in...)
		st.ok += len(in)
		st.failed += c.failed
		st.moves += c.moves
		st.renewed += max(c.sessions-1, 0)
		st.died += c.died
		if g := longestGap(c.ok, t0, end); g.length > st.perClient.length {
			g.client = c.name
			st.perClient = g
		}
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	st.system, st.all = longestGap(all, t0, end), all
	return st
}

// inWindow is the part of ts (sorted) within [t0, end].
func inWindow(ts []time.Time, t0, end time.Time) []time.Time {
	i, _ := slices.BinarySearchFunc(ts, t0, func(a, b time.Time) int { return a.Compare(b) })
	j, _ := slices.BinarySearchFunc(ts, end, func(a, b time.Time) int { return a.Compare(b) })
	for j < len(ts) && !ts[j].After(end) {
		j++
	}
	return ts[i:j]
}

// traced is one call, for -trace.
type traced struct {
	start, end time.Time
	op         string
	target     int // index in the client's targets
	err        error
}

// writeTrace writes every traced call of cls, by start time, to path: the
// offset from t0, the duration, the client, the target, the call and its
// error.
func writeTrace(path string, cls []*faultClient, t0 time.Time) error {
	type line struct {
		c *faultClient
		t traced
	}
	var all []line
	for _, c := range cls {
		for _, t := range c.calls {
			all = append(all, line{c, t})
		}
	}
	slices.SortFunc(all, func(a, b line) int { return a.t.start.Compare(b.t.start) })
	var b strings.Builder
	for _, l := range all {
		outcome := "ok"
		if l.t.err != nil {
			outcome = l.t.err.Error()
		}
		fmt.Fprintf(&b, "%+9.3f %8.1fms %-16s target %d %-7s %s\n", l.t.start.Sub(t0).Seconds(),
			float64(l.t.end.Sub(l.t.start).Microseconds())/1000, l.c.name, l.t.target, l.t.op, outcome)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
