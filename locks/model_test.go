package locks

import (
	"fmt"
	"sort"
	"time"
)

// model is the "dumb" reference lock table for the property test: the same
// contract written as plainly as possible, with no indexes, no heap and a full
// scan for everything. Each method returns what the Table's does.
type model struct {
	locks     map[string]*mLock
	lastToken uint64
}

type mLock struct {
	holder     string
	token      uint64
	grantedAt  int64
	delay      time.Duration
	delayed    bool
	delayUntil int64
	waiters    []waiter
}

func newModel() *model { return &model{locks: map[string]*mLock{}} }

func (m *model) names() []string {
	var out []string
	for n := range m.locks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// settle: drop expired waiters, end a finished delay, grant to the first
// waiter if the lock is free, delete it if empty.
func (m *model) settle(name string, index uint64, now int64) []Event {
	l := m.locks[name]
	var ev []Event
	var kept []waiter
	for _, w := range l.waiters {
		if w.deadline <= now {
			ev = append(ev, Event{WaitExpired, name, w.pid, 0, false, ""})
		} else {
			kept = append(kept, w)
		}
	}
	l.waiters = kept
	if l.delayed && now >= l.delayUntil {
		l.delayed, l.delayUntil = false, 0
	}
	if l.holder == "" && !l.delayed && len(l.waiters) > 0 {
		w := l.waiters[0]
		l.waiters = l.waiters[1:]
		l.holder, l.token, l.grantedAt, l.delay = w.pid, index, now, w.lockDelay
		m.lastToken = index
		ev = append(ev, Event{Granted, name, w.pid, index, false, ""})
	}
	if l.holder == "" && !l.delayed {
		delete(m.locks, name)
	}
	return ev
}

func (m *model) staleIndex(index uint64) error {
	if index <= m.lastToken {
		return fmt.Errorf("%w: index", ErrInvalid)
	}
	return nil
}

func (m *model) acquire(index uint64, now int64, r AcquireRequest) (AcquireResult, []Event, error) {
	if err := m.staleIndex(index); err != nil {
		return AcquireResult{}, nil, err
	}
	var ev []Event
	if _, ok := m.locks[r.Name]; ok {
		ev = m.settle(r.Name, index, now)
	}
	l, ok := m.locks[r.Name]
	if !ok {
		m.locks[r.Name] = &mLock{holder: r.PID, token: index, grantedAt: now, delay: r.LockDelay}
		m.lastToken = index
		return AcquireResult{Granted: true, Token: index}, append(ev, Event{Granted, r.Name, r.PID, index, false, ""}), nil
	}
	if l.holder == r.PID {
		return AcquireResult{Granted: true, Token: l.token}, ev, nil
	}
	res := AcquireResult{Holder: l.holder}
	if l.delayed {
		res.DelayUntil = fromNanos(l.delayUntil)
	}
	deadline := addDur(now, r.Wait)
	for i := range l.waiters {
		if l.waiters[i].pid == r.PID {
			l.waiters[i].deadline = max(l.waiters[i].deadline, deadline)
			l.waiters[i].lockDelay = r.LockDelay
			res.Queued, res.Position = true, i+1
			return res, ev, nil
		}
	}
	switch {
	case r.Wait == 0 && l.holder != "":
		return res, ev, ErrHeld
	case r.Wait == 0:
		return res, ev, ErrLockDelay
	case len(l.waiters) >= MaxWaiters:
		return res, ev, ErrQueueFull
	}
	l.waiters = append(l.waiters, waiter{pid: r.PID, deadline: deadline, lockDelay: r.LockDelay})
	res.Queued, res.Position = true, len(l.waiters)
	return res, ev, nil
}

func (m *model) release(index uint64, now int64, name, pid string) ([]Event, error) {
	if err := m.staleIndex(index); err != nil {
		return nil, err
	}
	l, ok := m.locks[name]
	if !ok {
		return nil, ErrNotHolder
	}
	var ev []Event
	if l.holder == pid {
		ev = append(ev, Event{Released, name, pid, l.token, false, ""})
		l.holder, l.token, l.grantedAt, l.delay = "", 0, 0, 0
		return append(ev, m.settle(name, index, now)...), nil
	}
	for i, w := range l.waiters {
		if w.pid == pid {
			l.waiters = append(l.waiters[:i:i], l.waiters[i+1:]...)
			ev = append(ev, Event{WaitCancelled, name, pid, 0, false, ""})
			return append(ev, m.settle(name, index, now)...), nil
		}
	}
	return nil, ErrNotHolder
}

// releaseWhere scans every lock, in name order.
func (m *model) releaseWhere(index uint64, now int64, match func(string) bool) ([]Event, error) {
	if err := m.staleIndex(index); err != nil {
		return nil, err
	}
	var ev []Event
	for _, name := range m.names() {
		l := m.locks[name]
		touched := false
		var kept []waiter
		for _, w := range l.waiters {
			if match(w.pid) {
				ev = append(ev, Event{WaitCancelled, name, w.pid, 0, false, ""})
				touched = true
			} else {
				kept = append(kept, w)
			}
		}
		l.waiters = kept
		if l.holder != "" && match(l.holder) {
			ev = append(ev, Event{AutoReleased, name, l.holder, l.token, false, ""})
			if l.delay > 0 {
				l.delayed, l.delayUntil = true, addDur(now, l.delay)
			}
			l.holder, l.token, l.grantedAt, l.delay = "", 0, 0, 0
			touched = true
		}
		if touched {
			ev = append(ev, m.settle(name, index, now)...)
		}
	}
	return ev, nil
}

func (m *model) tick(index uint64, now int64) ([]Event, error) {
	if err := m.staleIndex(index); err != nil {
		return nil, err
	}
	var ev []Event
	for _, name := range m.names() {
		ev = append(ev, m.settle(name, index, now)...)
	}
	return ev, nil
}

// export renders the model the way Table.List("") does.
func (m *model) export() []Lock {
	var out []Lock
	for _, name := range m.names() {
		l := m.locks[name]
		x := &lock{name: name, holder: l.holder, token: l.token, grantedAt: l.grantedAt,
			holderDelay: l.delay, delayed: l.delayed, delayUntil: l.delayUntil, waiters: l.waiters}
		out = append(out, x.export())
	}
	return out
}
