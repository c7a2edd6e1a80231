package locks

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestProperties drives the Table, a twin Table and the brute-force model
// with the same random commands and checks after every step: identical
// results, events and state to the model; at most one holder per lock; fencing
// tokens strictly increasing per lock; FIFO grants that never go to an
// expired waiter; a snapshot round-trip that reproduces the table byte for
// byte; and identical encodings of the twins (determinism despite Go's
// randomised map order).
func TestProperties(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runProperty(t, seed, 4000) })
	}
}

var (
	propNames = []string{"a", "b", "c"}
	propPIDs  = []string{"n1/s1", "n1/s2", "n2/s1", "n2/s2", "n3/s1", "n3/s2"}
	propNodes = []string{"n1", "n2", "n3"}
	propWaits = []time.Duration{0, 0, time.Second, 2 * time.Second, 5 * time.Second, 20 * time.Second}
	propDelay = []time.Duration{0, 0, 0, time.Second, 3 * time.Second}
)

func runProperty(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	tb, twin, m := New(), New(), newModel()
	now := t0
	index := uint64(0)
	lastGrant := map[string]uint64{}
	held, waited, expired, grantedWaiters := 0, 0, 0, 0

	for step := range steps {
		// Quarter-second steps against whole-second waits make the command time
		// land exactly on deadlines and delay ends, the boundary cases.
		now = now.Add(time.Duration(rng.IntN(7)) * 250 * time.Millisecond)
		index += uint64(1 + rng.IntN(2))
		idx := index
		if rng.IntN(50) == 0 && index > 3 {
			idx = index - uint64(rng.IntN(3)) // sometimes stale: must be rejected by both
		}
		n := toNanos(now)
		pre := snapshotQueues(tb)

		var desc string
		var ev, mev []Event
		var err, merr error
		apply := func(f func(*Table) ([]Event, error)) {
			ev, err = f(tb)
			ev2, err2 := f(twin)
			if !reflect.DeepEqual(ev, ev2) || !sameErr(err, err2) {
				t.Fatalf("step %d %s: twins differ: %v %v / %v %v", step, desc, ev, err, ev2, err2)
			}
		}
		switch op := rng.IntN(20); {
		case op < 9:
			r := AcquireRequest{Name: pick(rng, propNames), PID: pick(rng, propPIDs),
				Wait: pick(rng, propWaits), LockDelay: pick(rng, propDelay)}
			desc = fmt.Sprintf("acquire %+v", r)
			var res, mres AcquireResult
			apply(func(x *Table) ([]Event, error) {
				var e []Event
				var er error
				res, e, er = x.Acquire(idx, now, r)
				return e, er
			})
			mres, mev, merr = m.acquire(idx, n, r)
			if !reflect.DeepEqual(res, mres) {
				t.Fatalf("step %d %s: result %+v, model %+v", step, desc, res, mres)
			}
		case op < 14:
			name, pid := pick(rng, propNames), pick(rng, propPIDs)
			desc = fmt.Sprintf("release %s %s", name, pid)
			apply(func(x *Table) ([]Event, error) { return x.Release(idx, now, name, pid) })
			mev, merr = m.release(idx, n, name, pid)
		case op < 16:
			pid := pick(rng, propPIDs)
			desc = "release session " + pid
			apply(func(x *Table) ([]Event, error) { return x.ReleaseSession(idx, now, pid) })
			mev, merr = m.releaseWhere(idx, n, func(p string) bool { return p == pid })
		case op < 17:
			node := pick(rng, propNodes)
			desc = "release node " + node
			apply(func(x *Table) ([]Event, error) { return x.ReleaseNode(idx, now, node) })
			mev, merr = m.releaseWhere(idx, n, func(p string) bool { return NodeOf(p) == node })
		default:
			desc = "tick"
			apply(func(x *Table) ([]Event, error) { return x.Tick(idx, now) })
			mev, merr = m.tick(idx, n)
		}
		desc = fmt.Sprintf("%s at %d (+%s)", desc, idx, now.Sub(t0))

		if !sameErr(err, merr) {
			t.Fatalf("step %d %s: error %v, model %v", step, desc, err, merr)
		}
		if !reflect.DeepEqual(ev, mev) && (len(ev) != 0 || len(mev) != 0) {
			t.Fatalf("step %d %s: events\n got %v\nmodel %v", step, desc, ev, mev)
		}
		state := tb.List("")
		if want := m.export(); !reflect.DeepEqual(state, want) {
			t.Fatalf("step %d %s: state\n got %+v\nmodel %+v", step, desc, state, want)
		}
		checkInvariants(t, tb)

		// At most one holder per lock, and HeldBy agrees with the locks.
		holders := 0
		for _, l := range state {
			if l.Holder != "" {
				holders++
				for _, w := range l.Waiters {
					if w.PID == l.Holder {
						t.Fatalf("step %d: %s holds and waits for %q", step, w.PID, l.Name)
					}
				}
			}
		}
		heldBy := 0
		for _, pid := range propPIDs {
			heldBy += len(tb.HeldBy(pid))
		}
		if heldBy != holders {
			t.Fatalf("step %d: HeldBy counts %d holdings, locks show %d", step, heldBy, holders)
		}

		post := snapshotQueues(tb)
		for _, e := range ev {
			switch e.Kind {
			case Granted:
				if e.Token != idx || e.Token <= lastGrant[e.Name] {
					t.Fatalf("step %d %s: token %d for %q after %d (index %d)", step, desc, e.Token, e.Name, lastGrant[e.Name], idx)
				}
				lastGrant[e.Name] = e.Token
				checkFIFO(t, step, ev, e, pre[e.Name], post[e.Name], n)
				if pre[e.Name] != nil && pre[e.Name].position(e.PID) > 0 {
					grantedWaiters++
				}
			case WaitExpired:
				expired++
			}
		}
		held += holders
		for _, q := range post {
			waited += len(q.waiters)
		}

		// Snapshot round trip, and determinism of the twins.
		b := encode(t, tb)
		if tb2 := encode(t, twin); !bytes.Equal(b, tb2) {
			t.Fatalf("step %d %s: twin encodings differ", step, desc)
		}
		restored := New()
		if err := restored.UnmarshalBinary(b); err != nil {
			t.Fatalf("step %d: unmarshal: %v", step, err)
		}
		if !bytes.Equal(encode(t, restored), b) {
			t.Fatalf("step %d: round trip differs", step)
		}
		if step%250 == 0 {
			twin = restored // from now on the twin runs on a restored table
		}
	}
	// The run must have exercised the interesting paths.
	if held == 0 || waited == 0 || expired == 0 || grantedWaiters == 0 {
		t.Fatalf("weak run: held %d waited %d expired %d hand-offs %d", held, waited, expired, grantedWaiters)
	}
}

// checkFIFO: a waiter granted the lock had not expired, and every waiter
// ahead of it in the queue before the step has left the queue (expired,
// cancelled or released). A PID whose wait ended earlier in the same step and
// that is then granted the lock by its own new Acquire is a fresh acquirer.
func checkFIFO(t *testing.T, step int, evs []Event, e Event, pre, post *lock, now int64) {
	t.Helper()
	if pre == nil {
		return
	}
	pos := pre.position(e.PID)
	if pos == 0 {
		return
	}
	for _, x := range evs {
		if x == e {
			break
		}
		if x.Name == e.Name && x.PID == e.PID && (x.Kind == WaitExpired || x.Kind == WaitCancelled) {
			return // its wait ended first; this grant answers a fresh acquire
		}
	}
	if w := pre.waiters[pos-1]; w.deadline <= now {
		t.Fatalf("step %d: %s granted %q after its wait expired: %v", step, e.PID, e.Name, evs)
	}
	for _, ahead := range pre.waiters[:pos-1] {
		if post != nil && post.position(ahead.pid) > 0 {
			t.Fatalf("step %d: %s granted %q ahead of %s", step, e.PID, e.Name, ahead.pid)
		}
	}
}

// snapshotQueues copies each lock's queue.
func snapshotQueues(tb *Table) map[string]*lock {
	out := map[string]*lock{}
	for name, l := range tb.locks {
		out[name] = &lock{name: name, holder: l.holder, waiters: append([]waiter(nil), l.waiters...)}
	}
	return out
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	for _, s := range []error{ErrInvalid, ErrHeld, ErrLockDelay, ErrNotHolder, ErrQueueFull} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return true
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
