package naming

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Table is the Raft-replicated table of consistent and strong names: the
// State behind the FSM envelope, under TableID. It implements cluster's
// Table, SessionReleaser and Flusher (structurally: naming does not import
// cluster).
//
// Apply, ReleaseSession, ReleaseNode, Snapshot, Restore and Flush are
// called from Raft's FSM goroutine; Screen, Query and the readers (Owner,
// Count, Nodes) concurrently from request goroutines. The Table guards the
// State with its own lock. The events of applied commands are collected
// and handed to the events func on Flush, outside the lock.
type Table struct {
	events func([]Event)

	mu      sync.RWMutex
	st      *State
	pending []Event // events of the batch being applied, for Flush
}

// NewTable returns an empty table that hands its events to events (the
// watch hub's publish; nil drops them). events must not block.
func NewTable(events func([]Event)) *Table {
	if events == nil {
		events = func([]Event) {}
	}
	return &Table{events: events, st: NewState()}
}

// Apply applies a name command as the entry at index. A command refused
// by the state (a name taken, not the owner, expired) is a refusal result;
// one that breaks the table's rules (unknown op, malformed or invalid
// fields) is an error.
func (t *Table) Apply(index uint64, op byte, fields *wire.Decoder) ([]byte, error) {
	c, err := unmarshal(op, fields)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var (
		evs []Event
		b   Binding
		out = wire.Result()
	)
	switch c := c.(type) {
	case Register:
		b, evs, err = t.st.Register(index, c.Now, c.Name, c.PID, c.Meta)
		encodeBinding(out, b)
	case Reserve:
		var bound *Binding
		_, bound, err = t.st.Reserve(index, c.Now, c.Name, c.PID, c.Meta, c.Deadline)
		out.Bool(bound != nil)
		if bound != nil {
			encodeBinding(out, *bound)
		}
	case Activate:
		b, evs, err = t.st.Activate(index, c.Now, c.Name, c.PID)
		encodeBinding(out, b)
	case Cancel:
		t.st.Cancel(c.Name, c.PID)
	case Unregister:
		evs, err = t.st.Unregister(c.Name, c.PID)
	}
	t.pending = append(t.pending, evs...)
	if err != nil {
		return refusalOf(err), nil
	}
	return out.Data(), nil
}

// Screen checks a command's fields with Apply's own check, for the leader
// before it proposes the command.
func (t *Table) Screen(op byte, fields *wire.Decoder) error {
	_, err := unmarshal(op, fields)
	return err
}

// Query answers a read of the local replica: one binding by name, or the
// bindings under a prefix.
func (t *Table) Query(op byte, fields *wire.Decoder) ([]byte, error) {
	var bs []Binding
	switch op {
	case queryGet:
		name := fields.String()
		if err := fields.Done(); err != nil {
			return nil, fmt.Errorf("%w: malformed name get: %w", wire.ErrInvalid, err)
		}
		b, ok := t.Owner(name)
		if !ok {
			return refusalOf(notRegistered(name)), nil
		}
		bs = []Binding{b}
	case queryList:
		prefix := fields.String()
		if err := fields.Done(); err != nil {
			return nil, fmt.Errorf("%w: malformed name list: %w", wire.ErrInvalid, err)
		}
		t.mu.RLock()
		bs = t.st.List(prefix)
		t.mu.RUnlock()
	default:
		return nil, wire.Invalidf("op", "unknown name query %d", op)
	}
	r := wire.Result()
	r.Uvarint(uint64(len(bs)))
	for _, b := range bs {
		encodeBinding(r, b)
	}
	return r.Data(), nil
}

// ReleaseSession removes everything pid bound or reserved (the envelope's
// release-session entry).
func (t *Table) ReleaseSession(_ uint64, _ time.Time, pid string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, t.st.ReleaseSession(pid)...)
	return nil
}

// ReleaseNode removes everything the sessions of node bound or reserved
// (the envelope's release-node entry).
func (t *Table) ReleaseNode(_ uint64, _ time.Time, node string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, t.st.ReleaseNode(node)...)
	return nil
}

// Flush hands the events of the applied batch to the events func.
func (t *Table) Flush() {
	t.mu.Lock()
	evs := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(evs) > 0 {
		t.events(evs)
	}
}

// Snapshot encodes the state now (under the lock) and returns the writer
// of its section: the encoding as one frame. The section is written even
// for an empty table, as it always was.
func (t *Table) Snapshot() (func(w io.Writer) error, error) {
	t.mu.RLock()
	b, err := t.st.MarshalBinary()
	t.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("naming: snapshot: %w", err)
	}
	return func(w io.Writer) error { return wire.WriteFrame(w, b) }, nil
}

// Restore reads the table's section (nil: the snapshot has none, the table
// is empty) and returns the commit that installs it.
func (t *Table) Restore(r *bufio.Reader) (func(), error) {
	st := NewState()
	if r != nil {
		b, err := wire.ReadFrame(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("naming: restore: %w", err)
		}
		if err := st.UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("naming: restore: %w", err)
		}
	}
	return func() {
		t.mu.Lock()
		t.st = st
		t.mu.Unlock()
	}, nil
}

// Owner is the consistent or strong binding of name in this replica.
func (t *Table) Owner(name string) (Binding, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Get(name)
}

// Count is the number of active bindings of scope in this replica.
func (t *Table) Count(scope Scope) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Count(scope)
}

// Len is the number of active bindings in this replica.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Len()
}

// Nodes lists, sorted, the nodes whose sessions bind or reserve a name:
// the nodes a release-node entry would change here.
func (t *Table) Nodes() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Nodes()
}
