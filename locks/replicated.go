package locks

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// IndexedEvent is a lock table event with the index of the entry that
// caused it, so that a waiter can tell an event of its own acquire from a
// late one of an earlier acquire that a lagging replica applies only now.
type IndexedEvent struct {
	Event
	Index uint64
}

// Replicated is the lock table as the FSM envelope drives it (cluster's
// Table, SessionReleaser and Flusher, implemented structurally): it
// decodes the table's commands and queries, applies them to the pure
// Table under its own lock, and collects the events of a batch for
// Flush. Apply, ReleaseSession, ReleaseNode, Flush, Snapshot and Restore
// are called from Raft's FSM goroutine; Query, Screen and the read
// helpers (Held, NextDeadline, Nodes) from any goroutine, concurrently.
type Replicated struct {
	// notify receives each batch's events from Flush, on the FSM
	// goroutine, after the lock is released. It must not block.
	notify func([]IndexedEvent)

	mu      sync.RWMutex
	t       *Table
	pending []IndexedEvent
}

// NewReplicated returns an empty replicated table whose batches' events go
// to notify (nil: nobody is told).
func NewReplicated(notify func([]IndexedEvent)) *Replicated {
	if notify == nil {
		notify = func([]IndexedEvent) {}
	}
	return &Replicated{notify: notify, t: New()}
}

// Apply applies one lock command as the entry at index. A refusal by the
// table's state (held, not holder, queue full) is a result; a malformed
// command, an unknown op or a broken limit is an error.
func (r *Replicated) Apply(index uint64, op byte, fields *wire.Decoder) ([]byte, error) {
	switch op {
	case opAcquire:
		c, err := unmarshalAcquire(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		res, ev, err := r.t.Acquire(index, c.Now, c.request())
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return marshalAcquireResult(res, index), nil
	case opRelease:
		c, err := unmarshalRelease(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		ev, err := r.t.Release(index, c.Now, c.Name, c.PID)
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return wire.Result().Data(), nil
	case opTick:
		c, err := unmarshalTick(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		ev, err := r.t.Tick(index, c.Now)
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return wire.Result().Data(), nil
	case opSemAcquire:
		c, err := unmarshalSemAcquire(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		res, ev, err := r.t.SemAcquire(index, c.Now, c.request())
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return marshalAcquireResult(res, index), nil
	case opCampaign:
		c, err := unmarshalCampaign(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		res, ev, err := r.t.Campaign(index, c.Now, c.request())
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return marshalAcquireResult(res, index), nil
	case opProclaim:
		c, err := unmarshalProclaim(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		ev, err := r.t.Proclaim(index, c.Now, c.Name, c.PID, c.Value)
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return wire.Result().Data(), nil
	case opResign:
		c, err := unmarshalResign(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		ev, err := r.t.Resign(index, c.Now, c.Name, c.PID)
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return wire.Result().Data(), nil
	case opSemRelease:
		c, err := unmarshalSemRelease(fields)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		ev, err := r.t.SemRelease(index, c.Now, c.Name, c.PID)
		r.record(index, ev)
		r.mu.Unlock()
		if err != nil {
			return refusal(err)
		}
		return wire.Result().Data(), nil
	}
	return nil, fmt.Errorf("%w: unknown lock op %d", ErrInvalid, op)
}

// Screen checks a lock command's fields with the rules Apply applies
// (AcquireRequest.Validate is what the pure table's Acquire checks first),
// for the leader to refuse a bad command before proposing it. An unknown
// op passes (see below).
func (r *Replicated) Screen(op byte, fields *wire.Decoder) error {
	switch op {
	case opAcquire:
		c, err := unmarshalAcquire(fields)
		if err != nil {
			return err
		}
		return c.request().Validate()
	case opRelease:
		c, err := unmarshalRelease(fields)
		if err != nil {
			return err
		}
		return c.validate()
	case opTick:
		_, err := unmarshalTick(fields)
		return err
	case opSemAcquire:
		c, err := unmarshalSemAcquire(fields)
		if err != nil {
			return err
		}
		return c.request().Validate()
	case opCampaign:
		c, err := unmarshalCampaign(fields)
		if err != nil {
			return err
		}
		return c.request().Validate()
	case opProclaim:
		c, err := unmarshalProclaim(fields)
		if err != nil {
			return err
		}
		return c.validate()
	case opResign:
		c, err := unmarshalResign(fields)
		if err != nil {
			return err
		}
		if err := ValidateName(c.Name); err != nil {
			return err
		}
		return validatePID("pid", c.PID)
	case opSemRelease:
		c, err := unmarshalSemRelease(fields)
		if err != nil {
			return err
		}
		if err := ValidateName(c.Name); err != nil {
			return err
		}
		return validatePID("pid", c.PID)
	}
	// An op this table does not know is refused before it is proposed, as
	// every table does: committed, it could mean one thing to a replica of
	// a newer version and nothing to this one.
	return wire.Invalidf("op", "unknown lock op %d", op)
}

// record queues a call's events for Flush; r.mu is held.
func (r *Replicated) record(index uint64, ev []Event) {
	for _, e := range ev {
		r.pending = append(r.pending, IndexedEvent{Event: e, Index: index})
	}
}

// ReleaseSession auto-releases everything pid holds or waits for, in the
// envelope's release-session entry at index.
func (r *Replicated) ReleaseSession(index uint64, now time.Time, pid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, err := r.t.ReleaseSession(index, now, pid)
	r.record(index, ev)
	return err
}

// ReleaseNode auto-releases everything the sessions of node hold or wait
// for, in the envelope's release-node entry at index.
func (r *Replicated) ReleaseNode(index uint64, now time.Time, node string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, err := r.t.ReleaseNode(index, now, node)
	r.record(index, ev)
	return err
}

// Flush hands the events of the batch just applied to notify, outside the
// table's lock.
func (r *Replicated) Flush() {
	r.mu.Lock()
	ev := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(ev) > 0 {
		r.notify(ev)
	}
}

// Query answers a read of the local replica: one lock (a free one is a
// NotFound refusal) or the locks under a prefix.
func (r *Replicated) Query(op byte, fields *wire.Decoder) ([]byte, error) {
	switch op {
	case queryGet:
		name := fields.String()
		if err := fields.Done(); err != nil {
			return nil, malformed("lock get", err)
		}
		r.mu.RLock()
		l, ok := r.t.Get(name)
		r.mu.RUnlock()
		if !ok {
			return wire.Refusal(wire.Refuse(wire.NotFound, wire.ErrNotFound, "lock %q is free", name)), nil
		}
		return marshalInfos([]Lock{l}), nil
	case queryList:
		prefix := fields.String()
		if err := fields.Done(); err != nil {
			return nil, malformed("lock list", err)
		}
		r.mu.RLock()
		ls := r.t.List(prefix)
		r.mu.RUnlock()
		return marshalInfos(ls), nil
	case querySemGet:
		name := fields.String()
		if err := fields.Done(); err != nil {
			return nil, malformed("semaphore get", err)
		}
		r.mu.RLock()
		s, ok := r.t.GetSem(name)
		r.mu.RUnlock()
		if !ok {
			return wire.Refusal(wire.Refuse(wire.NotFound, wire.ErrNotFound, "semaphore %q is free", name)), nil
		}
		return marshalSemInfos([]Semaphore{s}), nil
	case queryElection:
		name := fields.String()
		if err := fields.Done(); err != nil {
			return nil, malformed("election get", err)
		}
		r.mu.RLock()
		e, ok := r.t.GetElection(name)
		r.mu.RUnlock()
		if !ok {
			return wire.Refusal(wire.Refuse(wire.NotFound, wire.ErrNotFound, "election %q has no leader or candidates", name)), nil
		}
		return marshalElection(e), nil
	case queryElectionList:
		prefix := fields.String()
		if err := fields.Done(); err != nil {
			return nil, malformed("election list", err)
		}
		r.mu.RLock()
		es := r.t.ListElections(prefix)
		r.mu.RUnlock()
		return marshalElections(es), nil
	case querySemList:
		prefix := fields.String()
		if err := fields.Done(); err != nil {
			return nil, malformed("semaphore list", err)
		}
		r.mu.RLock()
		ss := r.t.ListSems(prefix)
		r.mu.RUnlock()
		return marshalSemInfos(ss), nil
	}
	return nil, fmt.Errorf("%w: unknown lock query %d", ErrInvalid, op)
}

// Snapshot encodes the table now (the pure table's canonical encoding)
// and returns the function that writes it as the table's section, one
// length-framed record. The section is written even for an empty table:
// its last fencing token must survive.
func (r *Replicated) Snapshot() (func(w io.Writer) error, error) {
	r.mu.RLock()
	b, err := r.t.MarshalBinary()
	r.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("locks: snapshot: %w", err)
	}
	return func(w io.Writer) error { return wire.WriteFrame(w, b) }, nil
}

// Restore reads the table's section (nil: none, the table is empty) and
// returns the function that installs it.
func (r *Replicated) Restore(br *bufio.Reader) (func(), error) {
	t := New()
	if br != nil {
		rec, err := wire.ReadFrame(br)
		if err != nil {
			return nil, fmt.Errorf("locks: restore: %w", err)
		}
		if err := t.UnmarshalBinary(rec); err != nil {
			return nil, fmt.Errorf("locks: restore: %w", err)
		}
	}
	return func() {
		r.mu.Lock()
		r.t = t
		r.mu.Unlock()
	}, nil
}

// Held counts the locks that have a holder; for metrics.
func (r *Replicated) Held() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.t.Held()
}

// SemHeld counts the held semaphore slots; for metrics.
func (r *Replicated) SemHeld() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.t.SemHeld()
}

// ElectionsLed counts the elections with a leader; for metrics.
func (r *Replicated) ElectionsLed() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.t.ElectionsLed()
}

// NextDeadline is when the table next needs a Tick, false when nothing is
// pending.
func (r *Replicated) NextDeadline() (time.Time, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.t.NextDeadline()
}

// Nodes lists, sorted, the nodes whose sessions hold or wait for a lock:
// the nodes a release-node entry would change here.
func (r *Replicated) Nodes() []string {
	r.mu.RLock()
	seen := make(map[string]bool)
	for pid := range r.t.byPID {
		seen[NodeOf(pid)] = true
	}
	for pid := range r.t.semByPID {
		seen[NodeOf(pid)] = true
	}
	r.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
