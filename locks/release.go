package locks

import (
	"container/heap"
	"slices"
	"sort"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Release ends pid's interest in the named lock in the entry at index:
//   - the holder releases it (no lock_delay: that is for auto-release only),
//     and in the same call the lock goes to the first waiter whose deadline
//     has not passed, with token = index; expired waiters are dropped;
//   - a waiter cancels its wait and leaves the queue;
//   - anyone else gets ErrNotHolder, naming the lock and its holder, and the
//     table is unchanged.
func (t *Table) Release(index uint64, now time.Time, name, pid string) ([]Event, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := validatePID("pid", pid); err != nil {
		return nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	l := t.locks[name]
	if l == nil {
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "lock %q is not held", name)
	}
	var ev []Event
	switch pos := l.position(pid); {
	case l.holder == pid:
		ev = append(ev, Event{Kind: Released, Name: name, PID: pid, Token: l.token})
		l.clearHolder()
	case pos > 0:
		ev = append(ev, Event{Kind: WaitCancelled, Name: name, PID: pid})
		l.waiters = slices.Delete(l.waiters, pos-1, pos)
	case l.holder == "":
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "lock %q is not held by %s (nobody holds it, lock delay until %s)",
			name, pid, fromNanos(l.delayUntil).Format(time.RFC3339Nano))
	default:
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "lock %q is held by %s, not %s", name, l.holder, pid)
	}
	t.unlink(pid, name)
	return t.settle(l, index, toNanos(now), ev), nil
}

// ReleaseSession ends the session pid (DESIGN §3): every lock it holds is
// auto-released (a lock acquired with LockDelay > 0 then stays unavailable
// until now+LockDelay, even to its waiters), every wait it has is cancelled,
// and freed locks go to their next live waiter.
func (t *Table) ReleaseSession(index uint64, now time.Time, pid string) ([]Event, error) {
	if err := validatePID("pid", pid); err != nil {
		return nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	match := func(p string) bool { return p == pid }
	ev := t.releaseWhere(index, toNanos(now), match, sortedKeys(t.byPID[pid]))
	return append(ev, t.semReleaseWhere(index, toNanos(now), match, sortedKeys(t.semByPID[pid]))...), nil
}

// ReleaseNode does ReleaseSession for every PID of node at once (the node was
// declared gone). All the node's waits on a lock are cancelled before its
// holder is released, so a lock is never handed to a dying session of the same
// node.
func (t *Table) ReleaseNode(index uint64, now time.Time, node string) ([]Event, error) {
	if err := validateNode(node); err != nil {
		return nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	match := func(p string) bool { return NodeOf(p) == node }
	names := make(map[string]struct{})
	for pid, set := range t.byPID {
		if match(pid) {
			for name := range set {
				names[name] = struct{}{}
			}
		}
	}
	semNames := make(map[string]struct{})
	for pid, set := range t.semByPID {
		if match(pid) {
			for name := range set {
				semNames[name] = struct{}{}
			}
		}
	}
	ev := t.releaseWhere(index, toNanos(now), match, sortedKeys(names))
	return append(ev, t.semReleaseWhere(index, toNanos(now), match, sortedKeys(semNames))...), nil
}

// releaseWhere auto-releases, on each named lock (sorted), the holder and the
// waiters that match.
func (t *Table) releaseWhere(index uint64, now int64, match func(string) bool, names []string) []Event {
	var ev []Event
	for _, name := range names {
		l := t.locks[name]
		if l == nil {
			continue
		}
		kept := l.waiters[:0]
		for _, w := range l.waiters {
			if match(w.pid) {
				ev = append(ev, Event{Kind: WaitCancelled, Name: name, PID: w.pid})
				t.unlink(w.pid, name)
				continue
			}
			kept = append(kept, w)
		}
		clear(l.waiters[len(kept):])
		l.waiters = kept
		if l.holder != "" && match(l.holder) {
			ev = append(ev, Event{Kind: AutoReleased, Name: name, PID: l.holder, Token: l.token})
			t.unlink(l.holder, name)
			if l.holderDelay > 0 {
				l.delayed, l.delayUntil = true, addDur(now, l.holderDelay)
			}
			l.clearHolder()
		}
		ev = t.settle(l, index, now, ev)
	}
	return ev
}

// Tick applies the passage of time up to now: waits whose deadline is at or
// before now expire (WaitExpired), lock delays that have ended end, and the
// locks they free go to their first live waiter (token = index). Locks are
// processed in name order.
func (t *Table) Tick(index uint64, now time.Time) ([]Event, error) {
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	n := toNanos(now)
	var due []*lock
	for len(t.due) > 0 && t.due[0].dueAt <= n {
		due = append(due, heap.Pop(&t.due).(*lock))
	}
	sort.Slice(due, func(i, j int) bool { return due[i].name < due[j].name })
	var ev []Event
	for _, l := range due {
		ev = t.settle(l, index, n, ev)
	}
	return append(ev, t.semTick(index, n)...), nil
}
