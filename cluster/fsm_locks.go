package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"

	"github.com/conclave-dev/conclave/locks"
)

// Lock commands and queries (table tableLocks). Every command carries the
// proposer's time, so Apply never reads the clock (STYLE 12).
const (
	tableLocks = 2

	lkAcquire = 1 // name pid wait_ns delay_ns now_ns
	lkRelease = 2 // name pid now_ns
	// 3 and 4 are the envelope's release-session and release-node.
	lkTick = 5 // now_ns

	lkGet  = 1 // name
	lkList = 2 // prefix

	// Result statuses beyond the shared ones.
	resHeld      wire.Code = 4
	resNotHolder wire.Code = 5
	resBusy      wire.Code = 6
)

func unixNano(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

// lockEvent is a lock table event with the index of the entry that caused
// it, so that a waiter can tell an event of its own acquire from a late one
// of an earlier acquire that a lagging replica applies only now.
type lockEvent struct {
	locks.Event
	Index uint64
}

// lockTable is the lock table as the FSM envelope drives it.
type lockTable struct {
	mu sync.RWMutex
	t  *locks.Table
	// pending collects the events of the batch being applied; Flush hands
	// them to notify, which must not block (it only queues for sessions).
	pending []lockEvent
	notify  func([]lockEvent)
}

func newLockTable() *lockTable { return &lockTable{t: locks.New(), notify: func([]lockEvent) {}} }

func (lt *lockTable) Flush() {
	lt.mu.Lock()
	evs := lt.pending
	lt.pending = nil
	lt.mu.Unlock()
	if len(evs) > 0 {
		lt.notify(evs)
	}
}

func (lt *lockTable) Screen(op byte, d *wire.Decoder) error { return screenLock(op, d) }

func (lt *lockTable) Apply(index uint64, op byte, d *wire.Decoder) ([]byte, error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	var (
		ev  []locks.Event
		err error
		res *wire.Encoder
	)
	switch op {
	case lkAcquire:
		name, pid, wait, delay, now := d.String(), d.String(), d.Uvarint(), d.Uvarint(), d.Uvarint()
		if d.Done() != nil {
			return nil, fmt.Errorf("malformed lock acquire")
		}
		var r locks.AcquireResult
		r, ev, err = lt.t.Acquire(index, unixNano(now), locks.AcquireRequest{
			Name: name, PID: pid, Wait: time.Duration(wait), LockDelay: time.Duration(delay),
		})
		if err == nil {
			res = wire.Result()
			res.Byte(boolByte(r.Granted))
			res.Uvarint(r.Token)
			res.Byte(boolByte(r.Queued))
			res.Uvarint(uint64(r.Position))
			res.String(r.Holder)
			res.Uvarint(index) // the acquire's own entry: a later grant has a higher token
		}
	case lkRelease:
		name, pid, now := d.String(), d.String(), d.Uvarint()
		if d.Done() != nil {
			return nil, fmt.Errorf("malformed lock release")
		}
		ev, err = lt.t.Release(index, unixNano(now), name, pid)
	case lkTick:
		now := d.Uvarint()
		if d.Done() != nil {
			return nil, fmt.Errorf("malformed lock tick")
		}
		ev, err = lt.t.Tick(index, unixNano(now))
	default:
		return nil, fmt.Errorf("unknown lock op %d", op)
	}
	lt.queue(index, ev)
	if err != nil {
		return lockErrResult(err), nil
	}
	if res == nil {
		res = wire.Result()
	}
	return res.Data(), nil
}

func (lt *lockTable) queue(index uint64, ev []locks.Event) {
	for _, e := range ev {
		lt.pending = append(lt.pending, lockEvent{Event: e, Index: index})
	}
}

func (lt *lockTable) ReleaseSession(index uint64, now time.Time, pid string) error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	ev, err := lt.t.ReleaseSession(index, now, pid)
	lt.queue(index, ev)
	if err != nil {
		return &wire.Error{Code: resultCode(err), Detail: err.Error()}
	}
	return nil
}

func (lt *lockTable) ReleaseNode(index uint64, now time.Time, node string) error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	ev, err := lt.t.ReleaseNode(index, now, node)
	lt.queue(index, ev)
	if err != nil {
		return &wire.Error{Code: resultCode(err), Detail: err.Error()}
	}
	return nil
}

func (lt *lockTable) Snapshot() (func(io.Writer) error, error) {
	lt.mu.Lock()
	b, err := lt.t.MarshalBinary()
	lt.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error { return wire.WriteFrame(w, b) }, nil
}

func (lt *lockTable) Restore(br *bufio.Reader) (func(), error) {
	t := locks.New()
	if br != nil {
		rec, err := wire.ReadFrame(br)
		if err != nil {
			return nil, fmt.Errorf("locks: %w", err)
		}
		if err := t.UnmarshalBinary(rec); err != nil {
			return nil, fmt.Errorf("locks: %w", err)
		}
	}
	return func() {
		lt.mu.Lock()
		lt.t = t
		lt.mu.Unlock()
	}, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func lockErrResult(err error) []byte {
	return wire.Refusal(&wire.Error{Code: resultCode(err), Detail: err.Error()})
}

func resultCode(err error) wire.Code {
	switch {
	case errors.Is(err, locks.ErrHeld), errors.Is(err, locks.ErrLockDelay):
		return resHeld
	case errors.Is(err, locks.ErrNotHolder):
		return resNotHolder
	case errors.Is(err, locks.ErrQueueFull):
		return resBusy
	}
	return wire.Invalid
}

// Query answers lock reads.
func (lt *lockTable) Query(op byte, d *wire.Decoder) ([]byte, error) {
	lt.mu.RLock()
	defer lt.mu.RUnlock()
	var ls []locks.Lock
	switch op {
	case lkGet:
		name := d.String()
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed lock get", ErrInvalidArgument)
		}
		l, ok := lt.t.Get(name)
		if !ok {
			return wire.Refusal(&wire.Error{Code: wire.NotFound, Detail: fmt.Sprintf("lock %q is free", name)}), nil
		}
		ls = []locks.Lock{l}
	case lkList:
		prefix := d.String()
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed lock list", ErrInvalidArgument)
		}
		ls = lt.t.List(prefix)
	default:
		return nil, fmt.Errorf("%w: unknown lock query %d", ErrInvalidArgument, op)
	}
	r := wire.Result()
	r.Uvarint(uint64(len(ls)))
	for _, l := range ls {
		r.String(l.Name)
		r.String(l.Holder)
		r.Uvarint(l.Token)
		r.Uvarint(timeNano(l.GrantedAt))
		r.Uvarint(uint64(l.LockDelay))
		r.Uvarint(timeNano(l.DelayUntil))
		r.Uvarint(uint64(len(l.Waiters)))
		for _, w := range l.Waiters {
			r.String(w.PID)
			r.Uvarint(timeNano(w.Deadline))
		}
	}
	return r.Data(), nil
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

func decodeLockInfos(d *wire.Decoder) ([]LockInfo, error) {
	n := d.Count(minLockInfoBytes)
	if d.Err() != nil {
		return nil, wire.ErrMalformed
	}
	out := make([]LockInfo, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		l := LockInfo{Name: d.String(), Holder: d.String(), Token: d.Uvarint()}
		if ns := d.Uvarint(); ns != 0 {
			l.GrantedAt = unixNano(ns)
		}
		l.LockDelay = time.Duration(d.Uvarint())
		if ns := d.Uvarint(); ns != 0 {
			l.DelayUntil = unixNano(ns)
		}
		w := d.Count(minWaiterBytes)
		if d.Err() != nil {
			return nil, wire.ErrMalformed
		}
		for j := 0; j < w && d.Err() == nil; j++ {
			l.Waiters = append(l.Waiters, LockWaiter{PID: d.String(), Deadline: unixNano(d.Uvarint())})
		}
		out = append(out, l)
	}
	return out, d.Done()
}

// nextDeadline is when the lock table next needs a Tick.
func (lt *lockTable) nextDeadline() (time.Time, bool) {
	lt.mu.RLock()
	defer lt.mu.RUnlock()
	return lt.t.NextDeadline()
}

// lockNodes lists the nodes whose sessions hold or wait for a lock, or
// bind or reserve a consistent or strong name: the nodes a release-node
// entry would change.
func (lt *lockTable) nodes(nodes map[string]bool) {
	lt.mu.RLock()
	defer lt.mu.RUnlock()
	for _, l := range lt.t.List("") {
		if l.Holder != "" {
			nodes[locks.NodeOf(l.Holder)] = true
		}
		for _, w := range l.Waiters {
			nodes[locks.NodeOf(w.PID)] = true
		}
	}
}

// held counts the locks that have a holder; for metrics.
func (lt *lockTable) held() int {
	lt.mu.RLock()
	defer lt.mu.RUnlock()
	return lt.t.Held()
}
