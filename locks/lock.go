package locks

import (
	"math"
	"time"
)

// Lock is a copy of one live lock. Changing it does not change the table.
type Lock struct {
	// Name is the lock's name.
	Name string
	// Holder is the PID holding the lock, "" while the lock is in lock delay.
	Holder string
	// Token is the fencing token of the current grant (the Raft index of the
	// entry that granted it), 0 while nobody holds the lock.
	Token uint64
	// GrantedAt is the command time of the current grant (zero when unheld).
	GrantedAt time.Time
	// LockDelay is the holder's lock_delay: how long the lock stays
	// unavailable if the holder's session or node goes away.
	LockDelay time.Duration
	// DelayUntil is when the current lock delay ends; zero when not in delay.
	DelayUntil time.Time
	// Waiters is the FIFO queue, first in line first.
	Waiters []Waiter
}

// InDelay reports whether the lock is unavailable because of lock_delay.
func (l Lock) InDelay() bool { return !l.DelayUntil.IsZero() }

// Waiter is one queued acquire.
type Waiter struct {
	// PID is the waiting session.
	PID string
	// Deadline is when the wait expires (the acquire's time plus its Wait).
	Deadline time.Time
	// LockDelay is the lock_delay the waiter asked for, applied once granted.
	LockDelay time.Duration
}

// lock is the table's own record. Times are Unix nanoseconds so that the
// state (and its encoding) never carries a monotonic clock reading or a
// location. Fields of a part that does not apply are kept at zero (no holder:
// token, grantedAt and holderDelay are 0; not delayed: delayUntil is 0), so
// that equal states encode to equal bytes.
type lock struct {
	name        string
	holder      string
	token       uint64
	grantedAt   int64
	holderDelay time.Duration
	delayed     bool
	delayUntil  int64
	waiters     []waiter

	// heapIdx is the lock's position in Table.due, -1 when it has nothing due.
	heapIdx int
	// dueAt is the earliest waiter deadline or delay end, valid when heapIdx >= 0.
	dueAt int64
}

type waiter struct {
	pid       string
	deadline  int64
	lockDelay time.Duration
	value     string // an election candidate's value; "" otherwise
}

// live reports whether the lock must stay in the table: someone holds it or
// it is in lock delay. A lock with neither is deleted, because settle grants an
// available lock to its first waiter, so no waiter can be left behind.
func (l *lock) live() bool { return l.holder != "" || l.delayed }

// position returns the 1-based queue position of pid, 0 when not queued.
func (l *lock) position(pid string) int {
	for i := range l.waiters {
		if l.waiters[i].pid == pid {
			return i + 1
		}
	}
	return 0
}

// due returns the earliest instant at which time alone changes the lock: a
// waiter's deadline or the end of the lock delay.
func (l *lock) due() (int64, bool) {
	var at int64
	ok := false
	if l.delayed {
		at, ok = l.delayUntil, true
	}
	for i := range l.waiters {
		if d := l.waiters[i].deadline; !ok || d < at {
			at, ok = d, true
		}
	}
	return at, ok
}

func (l *lock) grant(pid string, delay time.Duration, index uint64, now int64) {
	l.holder, l.token, l.grantedAt, l.holderDelay = pid, index, now, delay
}

func (l *lock) clearHolder() {
	l.holder, l.token, l.grantedAt, l.holderDelay = "", 0, 0, 0
}

func (l *lock) export() Lock {
	out := Lock{
		Name:      l.name,
		Holder:    l.holder,
		Token:     l.token,
		LockDelay: l.holderDelay,
	}
	if l.holder != "" {
		out.GrantedAt = fromNanos(l.grantedAt)
	}
	if l.delayed {
		out.DelayUntil = fromNanos(l.delayUntil)
	}
	if len(l.waiters) > 0 {
		out.Waiters = make([]Waiter, len(l.waiters))
		for i, w := range l.waiters {
			out.Waiters[i] = Waiter{PID: w.pid, Deadline: fromNanos(w.deadline), LockDelay: w.lockDelay}
		}
	}
	return out
}

// toNanos converts a command time to Unix nanoseconds, clamping times outside
// int64's range (years 1678-2262), for which UnixNano is undefined.
func toNanos(t time.Time) int64 {
	if t.Before(time.Unix(0, math.MinInt64)) {
		return math.MinInt64
	}
	if t.After(time.Unix(0, math.MaxInt64)) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// addDur returns at+d (d >= 0), saturating instead of wrapping, so that a huge
// wait means "forever" rather than "already expired".
func addDur(at int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-at {
		return math.MaxInt64
	}
	return at + int64(d)
}
