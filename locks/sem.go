package locks

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Semaphores live in the same Table as locks (they share the fencing-token
// order, the index check, the session and node releases and the leader's
// tick) but in their own namespace: a semaphore "jobs" and a lock "jobs" are
// two different things. A semaphore is a lock with up to Limit holders at
// once; its waiters are FIFO exactly like a lock's. Semaphores have no
// lock_delay: a freed slot goes to the next waiter at once.
//
// Fencing tokens: one entry can grant several slots of one semaphore (a
// release-node that frees two slots hands them to two waiters), so a
// semaphore token is not the bare Raft index: it is index*SemTokenScale+k,
// where k counts the grants of that semaphore in that entry (k < Limit <=
// MaxSemLimit < SemTokenScale). Tokens of one semaphore are therefore unique
// and strictly increasing in grant order, and token/SemTokenScale is the
// Raft index of the granting entry.

const (
	// MaxSemLimit bounds a semaphore's limit.
	MaxSemLimit = 1000
	// SemTokenScale is the factor between a semaphore grant's Raft index and
	// its fencing token (see above).
	SemTokenScale = 1024
)

// Semaphore is a copy of one live semaphore.
type Semaphore struct {
	Name  string
	Limit int
	// Rev is the index of the entry that last changed the holders or a
	// holder's value.
	Rev uint64
	// Holders are the current holders in grant order (increasing tokens).
	Holders []SemHolder
	// Waiters is the FIFO queue, first in line first.
	Waiters []Waiter
}

// SemHolder is one holder of a semaphore slot.
type SemHolder struct {
	PID       string
	Token     uint64
	GrantedAt time.Time
	// Value is an election leader's value ("" for semaphores).
	Value string
}

type sem struct {
	name    string
	limit   int
	holders []semHolder
	waiters []waiter
	// rev is the index of the entry that last changed the holders or a
	// holder's value: an election's observers order states by it.
	rev uint64
}

type semHolder struct {
	pid       string
	token     uint64
	grantedAt int64
	value     string // an election leader's value; "" for semaphores
}

func (s *sem) holderIdx(pid string) int {
	for i := range s.holders {
		if s.holders[i].pid == pid {
			return i
		}
	}
	return -1
}

func (s *sem) position(pid string) int {
	for i := range s.waiters {
		if s.waiters[i].pid == pid {
			return i + 1
		}
	}
	return 0
}

func (s *sem) export() Semaphore {
	out := Semaphore{Name: s.name, Limit: s.limit, Rev: s.rev}
	for _, h := range s.holders {
		out.Holders = append(out.Holders, SemHolder{PID: h.pid, Token: h.token, GrantedAt: fromNanos(h.grantedAt), Value: h.value})
	}
	for _, w := range s.waiters {
		out.Waiters = append(out.Waiters, Waiter{PID: w.pid, Deadline: fromNanos(w.deadline)})
	}
	return out
}

// SemAcquireRequest is one semaphore acquire.
type SemAcquireRequest struct {
	Name string
	PID  string
	// Limit is the semaphore's number of slots; every acquirer must pass
	// the semaphore's current limit (1..MaxSemLimit).
	Limit int
	// Wait is how long the caller is willing to queue; 0 fails fast.
	Wait time.Duration
}

// Validate checks the request; the error wraps ErrInvalid and names the field.
func (r SemAcquireRequest) Validate() error {
	if err := ValidateName(r.Name); err != nil {
		return err
	}
	if err := validatePID("pid", r.PID); err != nil {
		return err
	}
	if r.Limit < 1 || r.Limit > MaxSemLimit {
		return invalid("limit", "must be between 1 and %d, got %d", MaxSemLimit, r.Limit)
	}
	return validateDuration("wait", r.Wait, 0)
}

// SemAcquire takes a slot of the named semaphore for req.PID in the entry at
// index with the command time now. It works as Acquire does for a lock
// (settle first; a holder acquiring again keeps its token; a queued PID keeps
// its place; fail fast with ErrHeld or queue), with slots instead of one
// holder. A request whose Limit differs from the live semaphore's is refused
// with ErrLimitMismatch naming the current limit (it crosses Raft as
// ErrNotHolder's code: the caller's own state is wrong).
func (t *Table) SemAcquire(index uint64, now time.Time, req SemAcquireRequest) (AcquireResult, []Event, error) {
	if err := req.Validate(); err != nil {
		return AcquireResult{}, nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return AcquireResult{}, nil, err
	}
	return t.semAcquire(index, toNanos(now), req, "", "semaphore")
}

// semAcquire is SemAcquire (and Campaign, with req.Name the election's
// key and value its value) on a validated request; what names the kind in
// refusals.
func (t *Table) semAcquire(index uint64, n int64, req SemAcquireRequest, value, what string) (AcquireResult, []Event, error) {
	var ev []Event
	s := t.sems[req.Name]
	if s != nil {
		ev = t.semSettle(s, index, n, ev)
		s = t.sems[req.Name]
	}
	if s == nil {
		s = &sem{name: req.Name, limit: req.Limit}
		t.sems[req.Name] = s
	}
	if s.limit != req.Limit {
		return AcquireResult{}, ev, wire.Refuse(CodeNotHolder, ErrLimitMismatch,
			"semaphore %q has limit %d, not %d", displayName(req.Name), s.limit, req.Limit)
	}
	if i := s.holderIdx(req.PID); i >= 0 {
		return AcquireResult{Granted: true, Token: s.holders[i].token}, ev, nil
	}
	if pos := s.position(req.PID); pos > 0 {
		w := &s.waiters[pos-1]
		w.deadline = max(w.deadline, addDur(n, req.Wait))
		w.value = value
		return AcquireResult{Queued: true, Position: pos}, ev, nil
	}
	if len(s.holders) < s.limit {
		// After settle, a semaphore with a free slot has no waiters.
		var tok uint64
		tok, ev = t.semGrant(s, req.PID, value, index, n, ev)
		return AcquireResult{Granted: true, Token: tok}, ev, nil
	}
	res := AcquireResult{Holder: s.holders[0].pid}
	if req.Wait == 0 {
		if what == "election" {
			return res, ev, wire.Refuse(CodeHeld, ErrHeld, "election %q is led by %s", displayName(req.Name), s.holders[0].pid)
		}
		return res, ev, wire.Refuse(CodeHeld, ErrHeld, "semaphore %q is full (%d of %d slots held)", req.Name, len(s.holders), s.limit)
	}
	if len(s.waiters) >= MaxWaiters {
		return res, ev, wire.Refuse(CodeQueueFull, ErrQueueFull, "%s %q already has %d waiters", what, displayName(req.Name), MaxWaiters)
	}
	s.waiters = append(s.waiters, waiter{pid: req.PID, deadline: addDur(n, req.Wait), value: value})
	t.semLink(req.PID, req.Name)
	res.Queued, res.Position = true, len(s.waiters)
	return res, ev, nil
}

// SemRelease ends pid's interest in the named semaphore: a holder frees its
// slot (which goes to the first live waiter in the same entry), a waiter
// leaves the queue, anyone else gets ErrNotHolder.
func (t *Table) SemRelease(index uint64, now time.Time, name, pid string) ([]Event, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := validatePID("pid", pid); err != nil {
		return nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	return t.semRelease(index, toNanos(now), name, pid, "semaphore")
}

func (t *Table) semRelease(index uint64, n int64, name, pid, what string) ([]Event, error) {
	s := t.sems[name]
	if s == nil {
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "%s %q is not held", what, displayName(name))
	}
	var ev []Event
	if i := s.holderIdx(pid); i >= 0 {
		ev = append(ev, Event{Kind: Released, Name: name, PID: pid, Token: s.holders[i].token, Sem: true})
		s.holders = slices.Delete(s.holders, i, i+1)
		s.rev = index
	} else if pos := s.position(pid); pos > 0 {
		ev = append(ev, Event{Kind: WaitCancelled, Name: name, PID: pid, Sem: true})
		s.waiters = slices.Delete(s.waiters, pos-1, pos)
	} else {
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "%s %q is not held by %s", what, displayName(name), pid)
	}
	t.semUnlink(pid, name)
	return t.semSettle(s, index, n, ev), nil
}

// GetSem returns a copy of the named semaphore, false when it is not live.
func (t *Table) GetSem(name string) (Semaphore, bool) {
	s, ok := t.sems[name]
	if !ok {
		return Semaphore{}, false
	}
	return s.export(), true
}

// ListSems returns copies of the live semaphores whose names start with
// prefix, sorted by name.
func (t *Table) ListSems(prefix string) []Semaphore {
	var out []Semaphore
	for _, name := range t.sortedSemNames() {
		if strings.HasPrefix(name, prefix) && !isElectKey(name) {
			out = append(out, t.sems[name].export())
		}
	}
	return out
}

// SemHeld returns the number of held semaphore slots; for metrics.
func (t *Table) SemHeld() int {
	n := 0
	for name, s := range t.sems {
		if !isElectKey(name) {
			n += len(s.holders)
		}
	}
	return n
}

func (t *Table) sortedSemNames() []string {
	names := make([]string, 0, len(t.sems))
	for name := range t.sems {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// semGrant gives a slot of s to pid in the entry at index and returns the
// token: the next free one of this entry (see the top of the file).
func (t *Table) semGrant(s *sem, pid, value string, index uint64, now int64, ev []Event) (uint64, []Event) {
	tok := index * SemTokenScale
	for _, h := range s.holders {
		if h.token >= tok {
			tok = h.token + 1
		}
	}
	s.holders = append(s.holders, semHolder{pid: pid, token: tok, grantedAt: now, value: value})
	s.rev = index
	t.semLink(pid, s.name)
	if index > t.lastToken {
		t.lastToken = index
	}
	return tok, append(ev, Event{Kind: Granted, Name: s.name, PID: pid, Token: tok, Sem: true, Value: value})
}

// semSettle drops expired waiters, fills free slots from the queue in FIFO
// order and deletes the semaphore when nobody holds or waits.
func (t *Table) semSettle(s *sem, index uint64, now int64, ev []Event) []Event {
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if w.deadline <= now {
			ev = append(ev, Event{Kind: WaitExpired, Name: s.name, PID: w.pid, Sem: true})
			t.semUnlink(w.pid, s.name)
			continue
		}
		kept = append(kept, w)
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
	for len(s.holders) < s.limit && len(s.waiters) > 0 {
		w := s.waiters[0]
		s.waiters = slices.Delete(s.waiters, 0, 1)
		t.semUnlink(w.pid, s.name) // semGrant links it again as a holder
		_, ev = t.semGrant(s, w.pid, w.value, index, now, ev)
	}
	if len(s.holders) == 0 && len(s.waiters) == 0 {
		delete(t.sems, s.name)
	}
	return ev
}

// semReleaseWhere auto-releases, on each named semaphore (sorted), the
// holders and waiters that match: waits first, then holders, then settle.
func (t *Table) semReleaseWhere(index uint64, now int64, match func(string) bool, names []string) []Event {
	var ev []Event
	for _, name := range names {
		s := t.sems[name]
		if s == nil {
			continue
		}
		kept := s.waiters[:0]
		for _, w := range s.waiters {
			if match(w.pid) {
				ev = append(ev, Event{Kind: WaitCancelled, Name: name, PID: w.pid, Sem: true})
				t.semUnlink(w.pid, name)
				continue
			}
			kept = append(kept, w)
		}
		clear(s.waiters[len(kept):])
		s.waiters = kept
		keptH := s.holders[:0]
		for _, h := range s.holders {
			if match(h.pid) {
				ev = append(ev, Event{Kind: AutoReleased, Name: name, PID: h.pid, Token: h.token, Sem: true})
				t.semUnlink(h.pid, name)
				s.rev = index
				continue
			}
			keptH = append(keptH, h)
		}
		clear(s.holders[len(keptH):])
		s.holders = keptH
		ev = t.semSettle(s, index, now, ev)
	}
	return ev
}

// semNextDeadline is the earliest semaphore waiter deadline. It walks the
// semaphores (few, unlike locks): the minimum does not depend on map order.
func (t *Table) semNextDeadline() (int64, bool) {
	var at int64
	ok := false
	for _, s := range t.sems {
		for _, w := range s.waiters {
			if !ok || w.deadline < at {
				at, ok = w.deadline, true
			}
		}
	}
	return at, ok
}

// semTick settles, in name order, every semaphore with a waiter due at now.
func (t *Table) semTick(index uint64, now int64) []Event {
	var due []string
	for name, s := range t.sems {
		for _, w := range s.waiters {
			if w.deadline <= now {
				due = append(due, name)
				break
			}
		}
	}
	sort.Strings(due)
	var ev []Event
	for _, name := range due {
		ev = t.semSettle(t.sems[name], index, now, ev)
	}
	return ev
}

func (t *Table) semLink(pid, name string) {
	set := t.semByPID[pid]
	if set == nil {
		set = make(map[string]struct{})
		t.semByPID[pid] = set
	}
	set[name] = struct{}{}
}

func (t *Table) semUnlink(pid, name string) {
	set := t.semByPID[pid]
	delete(set, name)
	if len(set) == 0 {
		delete(t.semByPID, pid)
	}
}
