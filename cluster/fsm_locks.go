package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/locks"
)

// Lock commands and queries (table tableLocks). Every command carries the
// proposer's time, so Apply never reads the clock (STYLE 12).
const (
	tableLocks = 2

	lkAcquire        = 1 // name pid wait_ns delay_ns now_ns
	lkRelease        = 2 // name pid now_ns
	lkReleaseSession = 3 // pid now_ns
	lkReleaseNode    = 4 // node now_ns
	lkTick           = 5 // now_ns

	lkGet  = 1 // name
	lkList = 2 // prefix

	// Result statuses beyond the shared ones.
	resHeld      = 4
	resNotHolder = 5
	resBusy      = 6
)

func unixNano(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

// lockEvent is a lock table event with the index of the entry that caused
// it, so that a waiter can tell an event of its own acquire from a late one
// of an earlier acquire that a lagging replica applies only now.
type lockEvent struct {
	locks.Event
	Index uint64
}

func (f *fsm) applyLocks(index uint64, op byte, d *dec) []byte {
	var (
		ev  []locks.Event
		err error
		res *enc
	)
	switch op {
	case lkAcquire:
		name, pid, wait, delay, now := d.string(), d.string(), d.uvarint(), d.uvarint(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed lock acquire")
		}
		var r locks.AcquireResult
		r, ev, err = f.locks.Acquire(index, unixNano(now), locks.AcquireRequest{
			Name: name, PID: pid, Wait: time.Duration(wait), LockDelay: time.Duration(delay),
		})
		if err == nil {
			res = &enc{b: []byte{resOK}}
			res.byte(boolByte(r.Granted))
			res.uvarint(r.Token)
			res.byte(boolByte(r.Queued))
			res.uvarint(uint64(r.Position))
			res.string(r.Holder)
			res.uvarint(index) // the acquire's own entry: a later grant has a higher token
		}
	case lkRelease:
		name, pid, now := d.string(), d.string(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed lock release")
		}
		ev, err = f.locks.Release(index, unixNano(now), name, pid)
	case lkReleaseSession:
		pid, now := d.string(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed release-session")
		}
		ev, err = f.locks.ReleaseSession(index, unixNano(now), pid)
		if err == nil {
			f.namePending = append(f.namePending, f.names.ReleaseSession(pid)...)
		}
	case lkReleaseNode:
		node, now := d.string(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed release-node")
		}
		ev, err = f.locks.ReleaseNode(index, unixNano(now), node)
		if err == nil {
			f.namePending = append(f.namePending, f.names.ReleaseNode(node)...)
		}
	case lkTick:
		now := d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed lock tick")
		}
		ev, err = f.locks.Tick(index, unixNano(now))
	default:
		return f.reject(index, fmt.Sprintf("unknown lock op %d", op))
	}
	for _, e := range ev {
		f.pending = append(f.pending, lockEvent{Event: e, Index: index})
	}
	if err != nil {
		return lockErrResult(err)
	}
	if res == nil {
		res = &enc{b: []byte{resOK}}
	}
	return res.b
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func lockErrResult(err error) []byte {
	switch {
	case errors.Is(err, locks.ErrHeld), errors.Is(err, locks.ErrLockDelay):
		return errResult(resHeld, err.Error())
	case errors.Is(err, locks.ErrNotHolder):
		return errResult(resNotHolder, err.Error())
	case errors.Is(err, locks.ErrQueueFull):
		return errResult(resBusy, err.Error())
	}
	return errResult(resInvalid, err.Error())
}

// queryLocks answers lock reads; the caller holds f.mu for reading.
func (f *fsm) queryLocks(op byte, d *dec) ([]byte, error) {
	var ls []locks.Lock
	switch op {
	case lkGet:
		name := d.string()
		if d.done() != nil {
			return nil, fmt.Errorf("%w: malformed lock get", ErrInvalidArgument)
		}
		l, ok := f.locks.Get(name)
		if !ok {
			return errResult(resNotFound, fmt.Sprintf("lock %q is free", name)), nil
		}
		ls = []locks.Lock{l}
	case lkList:
		prefix := d.string()
		if d.done() != nil {
			return nil, fmt.Errorf("%w: malformed lock list", ErrInvalidArgument)
		}
		ls = f.locks.List(prefix)
	default:
		return nil, fmt.Errorf("%w: unknown lock query %d", ErrInvalidArgument, op)
	}
	r := &enc{b: []byte{resOK}}
	r.uvarint(uint64(len(ls)))
	for _, l := range ls {
		r.string(l.Name)
		r.string(l.Holder)
		r.uvarint(l.Token)
		r.uvarint(timeNano(l.GrantedAt))
		r.uvarint(uint64(l.LockDelay))
		r.uvarint(timeNano(l.DelayUntil))
		r.uvarint(uint64(len(l.Waiters)))
		for _, w := range l.Waiters {
			r.string(w.PID)
			r.uvarint(timeNano(w.Deadline))
		}
	}
	return r.b, nil
}

func timeNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

// The smallest encoded lock (one-byte numbers and lengths, no waiters) and
// waiter: they bound the counts a result can claim.
const (
	minLockInfoBytes = 7
	minWaiterBytes   = 2
)

func decodeLockInfos(d *dec) ([]LockInfo, error) {
	n := d.count(minLockInfoBytes)
	if d.err != nil {
		return nil, errShort
	}
	out := make([]LockInfo, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		l := LockInfo{Name: d.string(), Holder: d.string(), Token: d.uvarint()}
		if ns := d.uvarint(); ns != 0 {
			l.GrantedAt = unixNano(ns)
		}
		l.LockDelay = time.Duration(d.uvarint())
		if ns := d.uvarint(); ns != 0 {
			l.DelayUntil = unixNano(ns)
		}
		w := d.count(minWaiterBytes)
		if d.err != nil {
			return nil, errShort
		}
		for j := 0; j < w && d.err == nil; j++ {
			l.Waiters = append(l.Waiters, LockWaiter{PID: d.string(), Deadline: unixNano(d.uvarint())})
		}
		out = append(out, l)
	}
	return out, d.done()
}

// lockDeadline is when the lock table next needs a Tick.
func (f *fsm) lockDeadline() (time.Time, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.locks.NextDeadline()
}

// lockNodes lists the nodes whose sessions hold or wait for a lock, or
// bind or reserve a consistent or strong name: the nodes a release-node
// entry would change.
func (f *fsm) lockNodes() map[string]bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	nodes := map[string]bool{}
	for _, node := range f.names.Nodes() {
		nodes[node] = true
	}
	for _, l := range f.locks.List("") {
		if l.Holder != "" {
			nodes[locks.NodeOf(l.Holder)] = true
		}
		for _, w := range l.Waiters {
			nodes[locks.NodeOf(w.PID)] = true
		}
	}
	return nodes
}
