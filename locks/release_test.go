package locks

import (
	"testing"
	"time"
)

// setup builds a table where n1/h holds "L" (token 1, lock_delay as given)
// and the listed PIDs queue for it in order, with the given waits.
func setup(t *testing.T, delay time.Duration, waiters ...struct {
	pid  string
	wait time.Duration
}) *Table {
	t.Helper()
	tb := New()
	acquire(t, tb, 1, t0, AcquireRequest{Name: "L", PID: "n1/h", LockDelay: delay})
	for i, w := range waiters {
		res, _ := acquire(t, tb, uint64(2+i), t0, AcquireRequest{Name: "L", PID: w.pid, Wait: w.wait})
		if !res.Queued {
			t.Fatalf("setup: %s not queued: %+v", w.pid, res)
		}
	}
	return tb
}

type w = struct {
	pid  string
	wait time.Duration
}

func TestRelease(t *testing.T) {
	tests := map[string]struct {
		tb      func(t *testing.T) *Table
		now     time.Duration
		pid     string
		events  []Event
		holder  string // "" = lock deleted
		token   uint64
		waiters []string
	}{
		"holder frees the lock and it is deleted": {
			tb:     func(t *testing.T) *Table { return setup(t, 0) },
			pid:    "n1/h",
			events: []Event{{Released, "L", "n1/h", 1, false, ""}},
		},
		"release hands the lock to the first waiter, token = index": {
			tb:      func(t *testing.T) *Table { return setup(t, 0, w{"n2/a", time.Minute}, w{"n3/b", time.Minute}) },
			pid:     "n1/h",
			events:  []Event{{Released, "L", "n1/h", 1, false, ""}, {Granted, "L", "n2/a", 100, false, ""}},
			holder:  "n2/a",
			token:   100,
			waiters: []string{"n3/b"},
		},
		"expired waiters are dropped, the first live one is granted": {
			tb: func(t *testing.T) *Table {
				return setup(t, 0, w{"n2/a", time.Second}, w{"n3/b", time.Minute}, w{"n4/c", 2 * time.Second})
			},
			now: 2 * time.Second, // n2/a and n4/c are at or past their deadline
			pid: "n1/h",
			events: []Event{{Released, "L", "n1/h", 1, false, ""}, {WaitExpired, "L", "n2/a", 0, false, ""},
				{WaitExpired, "L", "n4/c", 0, false, ""}, {Granted, "L", "n3/b", 100, false, ""}},
			holder: "n3/b",
			token:  100,
		},
		"all waiters expired: the lock is deleted": {
			tb:     func(t *testing.T) *Table { return setup(t, 0, w{"n2/a", time.Second}) },
			now:    time.Hour,
			pid:    "n1/h",
			events: []Event{{Released, "L", "n1/h", 1, false, ""}, {WaitExpired, "L", "n2/a", 0, false, ""}},
		},
		"a waiter releasing cancels its wait": {
			tb:      func(t *testing.T) *Table { return setup(t, 0, w{"n2/a", time.Minute}, w{"n3/b", time.Minute}) },
			pid:     "n2/a",
			events:  []Event{{WaitCancelled, "L", "n2/a", 0, false, ""}},
			holder:  "n1/h",
			token:   1,
			waiters: []string{"n3/b"},
		},
		"an expired waiter can still cancel": {
			tb:     func(t *testing.T) *Table { return setup(t, 0, w{"n2/a", time.Second}) },
			now:    time.Hour,
			pid:    "n2/a",
			events: []Event{{WaitCancelled, "L", "n2/a", 0, false, ""}},
			holder: "n1/h",
			token:  1,
		},
		"voluntary release ignores lock_delay": {
			tb:      func(t *testing.T) *Table { return setup(t, 30*time.Second, w{"n2/a", time.Minute}) },
			pid:     "n1/h",
			events:  []Event{{Released, "L", "n1/h", 1, false, ""}, {Granted, "L", "n2/a", 100, false, ""}},
			holder:  "n2/a",
			token:   100,
			waiters: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tb := tc.tb(t)
			ev, err := tb.Release(100, at(tc.now), "L", tc.pid)
			mustEvents(t, ev, err, tc.events...)
			checkInvariants(t, tb)
			l, ok := tb.Get("L")
			if tc.holder == "" {
				if ok || tb.Len() != 0 {
					t.Fatalf("lock should be deleted, got %+v", l)
				}
				return
			}
			if l.Holder != tc.holder || l.Token != tc.token || l.InDelay() {
				t.Fatalf("lock %+v, want holder %s token %d", l, tc.holder, tc.token)
			}
			var got []string
			for _, w := range l.Waiters {
				got = append(got, w.PID)
			}
			if len(got) != len(tc.waiters) || (len(got) > 0 && got[0] != tc.waiters[0]) {
				t.Fatalf("waiters %v, want %v", got, tc.waiters)
			}
		})
	}
}

func TestReleaseNotHolder(t *testing.T) {
	tests := map[string]struct {
		tb     func(t *testing.T) *Table
		name   string
		pid    string
		errHas []string
	}{
		"someone else holds it": {
			tb:   func(t *testing.T) *Table { return setup(t, 0, w{"n2/a", time.Minute}) },
			name: "L", pid: "n3/x",
			errHas: []string{`lock "L" is held by n1/h`, "n3/x"},
		},
		"no such lock": {
			tb:   func(t *testing.T) *Table { return setup(t, 0) },
			name: "other", pid: "n1/h",
			errHas: []string{`lock "other" is not held`},
		},
		"the old holder of a lock in delay": {
			tb: func(t *testing.T) *Table {
				tb := setup(t, 10*time.Second)
				if _, err := tb.ReleaseSession(5, t0, "n1/h"); err != nil {
					t.Fatal(err)
				}
				return tb
			},
			name: "L", pid: "n1/h",
			errHas: []string{`lock "L"`, "lock delay until 2025-06-01T12:00:10Z"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tb := tc.tb(t)
			before := encode(t, tb)
			ev, err := tb.Release(100, at(time.Hour), tc.name, tc.pid)
			mustErr(t, err, ErrNotHolder, tc.errHas...)
			if len(ev) != 0 {
				t.Fatalf("events on error: %v", ev)
			}
			mustUnchanged(t, tb, before)
		})
	}
}

func TestReleaseSession(t *testing.T) {
	t.Run("auto-release hands off at once without lock_delay", func(t *testing.T) {
		tb := setup(t, 0, w{"n2/a", time.Minute})
		acquire(t, tb, 10, t0, AcquireRequest{Name: "M", PID: "n1/h"})
		acquire(t, tb, 11, t0, AcquireRequest{Name: "N", PID: "n2/a"})
		acquire(t, tb, 12, t0, AcquireRequest{Name: "N", PID: "n1/h", Wait: time.Minute})
		ev, err := tb.ReleaseSession(20, at(time.Second), "n1/h")
		mustEvents(t, ev, err,
			Event{AutoReleased, "L", "n1/h", 1, false, ""}, Event{Granted, "L", "n2/a", 20, false, ""},
			Event{AutoReleased, "M", "n1/h", 10, false, ""},
			Event{WaitCancelled, "N", "n1/h", 0, false, ""})
		if got := tb.HeldBy("n1/h"); len(got) != 0 {
			t.Fatalf("n1/h still holds %v", got)
		}
		if got := tb.HeldBy("n2/a"); len(got) != 2 || got[0].Name != "L" || got[1].Name != "N" {
			t.Fatalf("n2/a holds %v", got)
		}
		checkInvariants(t, tb)
	})

	t.Run("lock_delay keeps everyone out until Tick at its end", func(t *testing.T) {
		tb := setup(t, 10*time.Second, w{"n2/a", time.Minute}, w{"n3/b", 5 * time.Second})
		ev, err := tb.ReleaseSession(20, at(time.Second), "n1/h")
		mustEvents(t, ev, err, Event{AutoReleased, "L", "n1/h", 1, false, ""})
		l, ok := tb.Get("L")
		if !ok || l.Holder != "" || l.Token != 0 || !l.DelayUntil.Equal(at(11*time.Second)) || len(l.Waiters) != 2 {
			t.Fatalf("lock in delay: %+v", l)
		}

		// Fail-fast acquires get ErrLockDelay naming the end; waiting ones queue.
		before := encode(t, tb)
		res, _, err := tb.Acquire(21, at(2*time.Second), AcquireRequest{Name: "L", PID: "n4/c"})
		mustErr(t, err, ErrLockDelay, `lock "L" is in lock delay until 2025-06-01T12:00:11Z`)
		if !res.DelayUntil.Equal(at(11*time.Second)) || res.Holder != "" {
			t.Fatalf("result %+v", res)
		}
		mustUnchanged(t, tb, before)
		res, _ = acquire(t, tb, 22, at(2*time.Second), AcquireRequest{Name: "L", PID: "n4/c", Wait: time.Minute})
		if !res.Queued || res.Position != 3 {
			t.Fatalf("queued during delay: %+v", res)
		}

		if d, _ := tb.NextDeadline(); !d.Equal(at(5 * time.Second)) {
			t.Fatalf("next deadline %v, want n3/b's deadline", d)
		}
		ev, err = tb.Tick(23, at(5*time.Second))
		mustEvents(t, ev, err, Event{WaitExpired, "L", "n3/b", 0, false, ""})
		if d, _ := tb.NextDeadline(); !d.Equal(at(11 * time.Second)) {
			t.Fatalf("next deadline %v, want the delay end", d)
		}
		ev, err = tb.Tick(24, at(11*time.Second-1))
		mustEvents(t, ev, err)
		ev, err = tb.Tick(25, at(11*time.Second))
		mustEvents(t, ev, err, Event{Granted, "L", "n2/a", 25, false, ""})
		checkInvariants(t, tb)
	})

	t.Run("a delay that ended is honoured by the next acquire without a Tick", func(t *testing.T) {
		tb := setup(t, 10*time.Second)
		ev, err := tb.ReleaseSession(20, t0, "n1/h")
		mustEvents(t, ev, err, Event{AutoReleased, "L", "n1/h", 1, false, ""})
		res, ev := acquire(t, tb, 21, at(10*time.Second), AcquireRequest{Name: "L", PID: "n2/a"})
		if !res.Granted || res.Token != 21 {
			t.Fatalf("result %+v", res)
		}
		mustEvents(t, ev, nil, Event{Granted, "L", "n2/a", 21, false, ""})
	})

	t.Run("a delay with no waiters ends in deletion", func(t *testing.T) {
		tb := setup(t, 10*time.Second)
		if _, err := tb.ReleaseSession(20, t0, "n1/h"); err != nil {
			t.Fatal(err)
		}
		ev, err := tb.Tick(21, at(time.Minute))
		mustEvents(t, ev, err)
		if tb.Len() != 0 {
			t.Fatalf("lock survived its delay: %+v", tb.List(""))
		}
		if _, ok := tb.NextDeadline(); ok {
			t.Fatal("a deadline is left")
		}
	})

	t.Run("unknown session is a no-op", func(t *testing.T) {
		tb := setup(t, 0)
		before := encode(t, tb)
		ev, err := tb.ReleaseSession(20, t0, "n9/nobody")
		mustEvents(t, ev, err)
		mustUnchanged(t, tb, before)
	})
}

func TestReleaseNode(t *testing.T) {
	tb := New()
	acquire(t, tb, 1, t0, AcquireRequest{Name: "A", PID: "n1/s1", LockDelay: 5 * time.Second})
	acquire(t, tb, 2, t0, AcquireRequest{Name: "A", PID: "n1/s2", Wait: time.Minute})
	acquire(t, tb, 3, t0, AcquireRequest{Name: "A", PID: "n2/s1", Wait: time.Minute})
	acquire(t, tb, 4, t0, AcquireRequest{Name: "B", PID: "n1/s2"})
	acquire(t, tb, 5, t0, AcquireRequest{Name: "B", PID: "n1/s1", Wait: time.Minute})
	acquire(t, tb, 6, t0, AcquireRequest{Name: "B", PID: "n2/s1", Wait: time.Minute})
	acquire(t, tb, 7, t0, AcquireRequest{Name: "C", PID: "n10/s1"}) // n10 is not n1

	ev, err := tb.ReleaseNode(10, at(time.Second), "n1")
	mustEvents(t, ev, err,
		Event{WaitCancelled, "A", "n1/s2", 0, false, ""}, Event{AutoReleased, "A", "n1/s1", 1, false, ""},
		Event{WaitCancelled, "B", "n1/s1", 0, false, ""}, Event{AutoReleased, "B", "n1/s2", 4, false, ""},
		Event{Granted, "B", "n2/s1", 10, false, ""})
	a, _ := tb.Get("A")
	if a.Holder != "" || !a.DelayUntil.Equal(at(6*time.Second)) || len(a.Waiters) != 1 || a.Waiters[0].PID != "n2/s1" {
		t.Fatalf("A: %+v", a)
	}
	if c, ok := tb.Get("C"); !ok || c.Holder != "n10/s1" {
		t.Fatalf("C of another node was touched: %+v", c)
	}
	checkInvariants(t, tb)
}

func TestTickExpiresWaits(t *testing.T) {
	tb := New()
	acquire(t, tb, 1, t0, AcquireRequest{Name: "b", PID: "n1/h"})
	acquire(t, tb, 2, t0, AcquireRequest{Name: "a", PID: "n1/h"})
	acquire(t, tb, 3, t0, AcquireRequest{Name: "b", PID: "n2/x", Wait: 2 * time.Second})
	acquire(t, tb, 4, t0, AcquireRequest{Name: "a", PID: "n2/x", Wait: 3 * time.Second})
	acquire(t, tb, 5, t0, AcquireRequest{Name: "a", PID: "n3/y", Wait: time.Second})

	if d, ok := tb.NextDeadline(); !ok || !d.Equal(at(time.Second)) {
		t.Fatalf("NextDeadline = %v %v", d, ok)
	}
	ev, err := tb.Tick(6, at(500*time.Millisecond))
	mustEvents(t, ev, err)
	// Both deadlines passed by now: events come in name order, not deadline order.
	ev, err = tb.Tick(7, at(3*time.Second))
	mustEvents(t, ev, err,
		Event{WaitExpired, "a", "n2/x", 0, false, ""}, Event{WaitExpired, "a", "n3/y", 0, false, ""},
		Event{WaitExpired, "b", "n2/x", 0, false, ""})
	if _, ok := tb.NextDeadline(); ok {
		t.Fatal("deadline left after every wait expired")
	}
	if tb.Len() != 2 {
		t.Fatalf("held locks were dropped: %v", tb.List(""))
	}
	checkInvariants(t, tb)
}
