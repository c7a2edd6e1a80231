package locks

import (
	"container/heap"
	"slices"
	"sort"
	"strings"
	"time"
)

// Table is the lock table. The zero value is not usable; call New. A Table is
// not safe for concurrent use (see the package comment).
type Table struct {
	locks map[string]*lock
	// byPID indexes, for each PID, the names of the locks it holds or waits
	// for, so that ending a session does not scan the whole table.
	byPID map[string]map[string]struct{}
	// due orders the locks that have a waiter deadline or a delay end by that
	// instant, so NextDeadline and Tick do not scan the whole table.
	due dueHeap
	// lastToken is the highest fencing token ever issued. Mutating calls must
	// carry a higher index, which keeps tokens unique and increasing even if a
	// caller replays an entry.
	lastToken uint64

	// sems are the semaphores (sem.go), by name; semByPID indexes, for each
	// PID, the semaphores it holds a slot of or waits for.
	sems     map[string]*sem
	semByPID map[string]map[string]struct{}
}

// New returns an empty table.
func New() *Table {
	return &Table{
		locks: make(map[string]*lock),
		byPID: make(map[string]map[string]struct{}),

		sems:     make(map[string]*sem),
		semByPID: make(map[string]map[string]struct{}),
	}
}

// Len returns the number of live locks (held or in lock delay).
func (t *Table) Len() int { return len(t.locks) }

// Held returns the number of locks that have a holder (live locks in lock
// delay have none). It walks the table: for metrics, not hot paths.
func (t *Table) Held() int {
	n := 0
	for _, l := range t.locks {
		if l.holder != "" {
			n++
		}
	}
	return n
}

// LastToken returns the highest fencing token issued so far (0 if none).
func (t *Table) LastToken() uint64 { return t.lastToken }

// Get returns a copy of the named lock, and false when it is not live.
func (t *Table) Get(name string) (Lock, bool) {
	l, ok := t.locks[name]
	if !ok {
		return Lock{}, false
	}
	return l.export(), true
}

// List returns copies of the live locks whose names start with prefix, sorted
// by name.
func (t *Table) List(prefix string) []Lock {
	var out []Lock
	for _, name := range t.sortedNames() {
		if strings.HasPrefix(name, prefix) {
			out = append(out, t.locks[name].export())
		}
	}
	return out
}

// HeldBy returns copies of the locks pid holds, sorted by name.
func (t *Table) HeldBy(pid string) []Lock {
	var out []Lock
	for _, name := range sortedKeys(t.byPID[pid]) {
		if l := t.locks[name]; l.holder == pid {
			out = append(out, l.export())
		}
	}
	return out
}

// NextDeadline returns the earliest waiter deadline or lock-delay end in the
// table, and false when nothing is pending. The leader proposes a Tick at that
// time; Tick is also safe to propose early or late.
func (t *Table) NextDeadline() (time.Time, bool) {
	at, ok := t.semNextDeadline()
	if len(t.due) > 0 && (!ok || t.due[0].dueAt < at) {
		at, ok = t.due[0].dueAt, true
	}
	if !ok {
		return time.Time{}, false
	}
	return fromNanos(at), true
}

func (t *Table) checkIndex(index uint64) error {
	if index <= t.lastToken {
		return invalid("index", "%d is not after the last fencing token %d", index, t.lastToken)
	}
	return nil
}

func (t *Table) sortedNames() []string {
	names := make([]string, 0, len(t.locks))
	for name := range t.locks {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (t *Table) link(pid, name string) {
	set := t.byPID[pid]
	if set == nil {
		set = make(map[string]struct{})
		t.byPID[pid] = set
	}
	set[name] = struct{}{}
}

func (t *Table) unlink(pid, name string) {
	set := t.byPID[pid]
	delete(set, name)
	if len(set) == 0 {
		delete(t.byPID, pid)
	}
}

// grant gives l to pid at index and records the token.
func (t *Table) grant(l *lock, pid string, delay time.Duration, index uint64, now int64, ev []Event) []Event {
	l.grant(pid, delay, index, now)
	if index > t.lastToken {
		t.lastToken = index
	}
	return append(ev, Event{Kind: Granted, Name: l.name, PID: pid, Token: index})
}

// settle applies what time and availability imply for l at now: it drops
// waiters whose deadline has passed, ends a finished lock delay, grants an
// available lock to the first remaining waiter (token = index), and deletes the
// lock if it is no longer live. Every call that changes a lock ends with
// settle, so the table never holds an available lock with waiters.
func (t *Table) settle(l *lock, index uint64, now int64, ev []Event) []Event {
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if w.deadline <= now {
			ev = append(ev, Event{Kind: WaitExpired, Name: l.name, PID: w.pid})
			t.unlink(w.pid, l.name)
			continue
		}
		kept = append(kept, w)
	}
	clear(l.waiters[len(kept):])
	l.waiters = kept
	if l.delayed && now >= l.delayUntil {
		l.delayed, l.delayUntil = false, 0
	}
	if l.holder == "" && !l.delayed && len(l.waiters) > 0 {
		w := l.waiters[0]
		l.waiters = slices.Delete(l.waiters, 0, 1)
		ev = t.grant(l, w.pid, w.lockDelay, index, now, ev)
	}
	if !l.live() {
		t.remove(l)
		return ev
	}
	t.reschedule(l)
	return ev
}

// remove deletes a lock that is no longer live. It has no holder and, because
// settle would have granted it, no waiters, so no PID index points at it.
func (t *Table) remove(l *lock) {
	if l.heapIdx >= 0 {
		heap.Remove(&t.due, l.heapIdx)
	}
	delete(t.locks, l.name)
}

// reschedule puts l at its place in the due heap after its waiters or delay
// changed.
func (t *Table) reschedule(l *lock) {
	at, ok := l.due()
	switch {
	case !ok && l.heapIdx >= 0:
		heap.Remove(&t.due, l.heapIdx)
	case !ok:
	case l.heapIdx >= 0:
		l.dueAt = at
		heap.Fix(&t.due, l.heapIdx)
	default:
		l.dueAt = at
		heap.Push(&t.due, l)
	}
}

// dueHeap is a min-heap of locks by dueAt. Ties are broken arbitrarily, which
// is harmless: Tick sorts what it pops by name before acting.
type dueHeap []*lock

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].dueAt < h[j].dueAt }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}

func (h *dueHeap) Push(x any) {
	l := x.(*lock)
	l.heapIdx = len(*h)
	*h = append(*h, l)
}

func (h *dueHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	l.heapIdx = -1
	return l
}
