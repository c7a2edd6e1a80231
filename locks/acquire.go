package locks

import (
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// AcquireRequest is one acquire command.
type AcquireRequest struct {
	// Name is the lock (see ValidateName).
	Name string
	// PID is the acquiring session, <node>/<session-id>.
	PID string
	// Wait is how long the caller is willing to queue; 0 fails fast.
	Wait time.Duration
	// LockDelay keeps the lock unavailable this long after an auto-release
	// of this grant (0 = off, at most MaxLockDelay). A voluntary Release never
	// triggers it, as in Consul.
	LockDelay time.Duration
}

// Validate checks the request; the error wraps ErrInvalid and names the field.
func (r AcquireRequest) Validate() error {
	if err := ValidateName(r.Name); err != nil {
		return err
	}
	if err := validatePID("pid", r.PID); err != nil {
		return err
	}
	if err := validateDuration("wait", r.Wait, 0); err != nil {
		return err
	}
	return validateDuration("lock_delay", r.LockDelay, MaxLockDelay)
}

// AcquireResult is the outcome of an Acquire.
type AcquireResult struct {
	// Granted: the caller holds the lock, with Token.
	Granted bool
	// Token is the fencing token when Granted.
	Token uint64
	// Holder is the current holder when not Granted ("" while in lock delay).
	Holder string
	// Queued: the caller waits in the queue at Position (1 = next in line).
	Queued   bool
	Position int
	// DelayUntil is when the lock delay ends, when the lock is in one.
	DelayUntil time.Time
}

// Acquire takes the lock for req.PID in the entry at index with the command
// time now:
//   - a lock nobody holds and not in lock delay is granted: token = index;
//   - the holder acquiring again is granted again with its existing token;
//   - a PID already queued keeps its place; its deadline becomes the later of
//     the old one and now+Wait;
//   - otherwise, with Wait = 0 it fails with ErrHeld (naming the holder) or
//     ErrLockDelay (naming when the delay ends); with Wait > 0 the PID joins
//     the end of the queue with deadline now+Wait, unless the queue is full
//     (ErrQueueFull).
//
// Before deciding, Acquire settles the lock at now (drops expired waiters, ends
// a finished lock delay and hands the lock on), so the returned events are
// meaningful even when the error is not nil. Validation errors (ErrInvalid)
// leave the table unchanged and return no events.
func (t *Table) Acquire(index uint64, now time.Time, req AcquireRequest) (AcquireResult, []Event, error) {
	if err := req.Validate(); err != nil {
		return AcquireResult{}, nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return AcquireResult{}, nil, err
	}
	n := toNanos(now)
	var ev []Event
	l := t.locks[req.Name]
	if l != nil {
		ev = t.settle(l, index, n, ev)
		l = t.locks[req.Name] // settle may have deleted it
	}
	if l == nil {
		l = &lock{name: req.Name, heapIdx: -1}
		t.locks[req.Name] = l
		t.link(req.PID, req.Name)
		ev = t.grant(l, req.PID, req.LockDelay, index, n, ev)
		return AcquireResult{Granted: true, Token: index}, ev, nil
	}
	if l.holder == req.PID {
		return AcquireResult{Granted: true, Token: l.token}, ev, nil
	}
	res := AcquireResult{Holder: l.holder}
	if l.delayed {
		res.DelayUntil = fromNanos(l.delayUntil)
	}
	if pos := l.position(req.PID); pos > 0 {
		w := &l.waiters[pos-1]
		w.deadline = max(w.deadline, addDur(n, req.Wait))
		w.lockDelay = req.LockDelay
		t.reschedule(l)
		res.Queued, res.Position = true, pos
		return res, ev, nil
	}
	if req.Wait == 0 {
		if l.holder != "" {
			return res, ev, wire.Refuse(CodeHeld, ErrHeld, "lock %q is held by %s", req.Name, l.holder)
		}
		return res, ev, wire.Refuse(CodeHeld, ErrLockDelay, "lock %q is in lock delay until %s",
			req.Name, res.DelayUntil.Format(time.RFC3339Nano))
	}
	if len(l.waiters) >= MaxWaiters {
		return res, ev, wire.Refuse(CodeQueueFull, ErrQueueFull, "lock %q already has %d waiters", req.Name, MaxWaiters)
	}
	l.waiters = append(l.waiters, waiter{pid: req.PID, deadline: addDur(n, req.Wait), lockDelay: req.LockDelay})
	t.link(req.PID, req.Name)
	t.reschedule(l)
	res.Queued, res.Position = true, len(l.waiters)
	return res, ev, nil
}
