package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"

	"github.com/conclave-dev/conclave/naming"
)

// Name commands and queries (table tableNames): consistent and strong
// names. Release of a session's or a node's names rides on the lock
// table's release-session and release-node commands, so that everything a
// session held goes in one Raft entry (DESIGN §3).
const (
	tableNames = 3

	nmRegister   = 1 // name pid meta now_ns
	nmReserve    = 2 // name pid meta deadline_ns now_ns
	nmActivate   = 3 // name pid now_ns
	nmCancel     = 4 // name pid
	nmUnregister = 5 // name pid

	nmGet  = 1 // name
	nmList = 2 // prefix

	// Result statuses beyond the shared ones.
	resTaken    wire.Code = 7 // owner scope reserved
	resNotOwner wire.Code = 8
	resExpired  wire.Code = 9
)

// nameTable is the consistent and strong name table as the FSM envelope
// drives it.
type nameTable struct {
	mu sync.RWMutex
	t  *naming.Table
	// pending collects the events of the batch being applied; Flush hands
	// them to notify (the watchers), which must not block.
	pending []naming.Event
	notify  func([]naming.Event)
}

func newNameTable() *nameTable {
	return &nameTable{t: naming.NewTable(), notify: func([]naming.Event) {}}
}

func (nt *nameTable) Flush() {
	nt.mu.Lock()
	evs := nt.pending
	nt.pending = nil
	nt.mu.Unlock()
	if len(evs) > 0 {
		nt.notify(evs)
	}
}

func (nt *nameTable) Screen(op byte, d *wire.Decoder) error { return screenName(op, d) }

func (nt *nameTable) ReleaseSession(_ uint64, _ time.Time, pid string) error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	nt.pending = append(nt.pending, nt.t.ReleaseSession(pid)...)
	return nil
}

func (nt *nameTable) ReleaseNode(_ uint64, _ time.Time, node string) error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	nt.pending = append(nt.pending, nt.t.ReleaseNode(node)...)
	return nil
}

func (nt *nameTable) Snapshot() (func(io.Writer) error, error) {
	nt.mu.Lock()
	b, err := nt.t.MarshalBinary()
	nt.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error { return wire.WriteFrame(w, b) }, nil
}

func (nt *nameTable) Restore(br *bufio.Reader) (func(), error) {
	t := naming.NewTable()
	if br != nil {
		rec, err := wire.ReadFrame(br)
		if err != nil {
			return nil, fmt.Errorf("names: %w", err)
		}
		if err := t.UnmarshalBinary(rec); err != nil {
			return nil, fmt.Errorf("names: %w", err)
		}
	}
	return func() {
		nt.mu.Lock()
		nt.t = t
		nt.mu.Unlock()
	}, nil
}

func (nt *nameTable) Apply(index uint64, op byte, d *wire.Decoder) ([]byte, error) {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	var (
		evs []naming.Event
		err error
		b   naming.Binding
		out = wire.Result()
	)
	switch op {
	case nmRegister:
		name, pid, meta, now := d.String(), d.String(), d.Bytes(), d.Uvarint()
		if d.Done() != nil {
			return nil, errors.New("malformed name register")
		}
		b, evs, err = nt.t.Register(index, unixNano(now), name, pid, meta)
		encodeBinding(out, b)
	case nmReserve:
		name, pid, meta, deadline, now := d.String(), d.String(), d.Bytes(), d.Uvarint(), d.Uvarint()
		if d.Done() != nil {
			return nil, errors.New("malformed name reserve")
		}
		var bound *naming.Binding
		_, bound, err = nt.t.Reserve(index, unixNano(now), name, pid, meta, unixNano(deadline))
		if bound != nil {
			out.Byte(1)
			encodeBinding(out, *bound)
		} else {
			out.Byte(0)
		}
	case nmActivate:
		name, pid, now := d.String(), d.String(), d.Uvarint()
		if d.Done() != nil {
			return nil, errors.New("malformed name activate")
		}
		b, evs, err = nt.t.Activate(index, unixNano(now), name, pid)
		encodeBinding(out, b)
	case nmCancel:
		name, pid := d.String(), d.String()
		if d.Done() != nil {
			return nil, errors.New("malformed name cancel")
		}
		nt.t.Cancel(name, pid)
	case nmUnregister:
		name, pid := d.String(), d.String()
		if d.Done() != nil {
			return nil, errors.New("malformed name unregister")
		}
		evs, err = nt.t.Unregister(name, pid)
	default:
		return nil, fmt.Errorf("unknown name op %d", op)
	}
	nt.pending = append(nt.pending, evs...)
	if err != nil {
		return nameErrResult(err), nil
	}
	return out.Data(), nil
}

func nameErrResult(err error) []byte {
	var c *naming.Conflict
	switch {
	case errors.As(err, &c):
		x := wire.NewEncoder()
		x.String(c.Owner)
		x.Byte(byte(c.Scope))
		x.Bool(c.Reserved)
		return wire.Refusal(&wire.Error{Code: resTaken, Detail: c.Error(), Extra: x.Data()})
	case errors.Is(err, naming.ErrNotFound):
		return wire.Refusal(&wire.Error{Code: wire.NotFound, Detail: err.Error()})
	case errors.Is(err, naming.ErrNotOwner):
		return wire.Refusal(&wire.Error{Code: resNotOwner, Detail: err.Error()})
	case errors.Is(err, naming.ErrExpired):
		return wire.Refusal(&wire.Error{Code: resExpired, Detail: err.Error()})
	}
	return wire.Refusal(&wire.Error{Code: wire.Invalid, Detail: err.Error()})
}

func encodeBinding(e *wire.Encoder, b naming.Binding) {
	e.String(b.Name)
	e.String(b.PID)
	e.Byte(byte(b.Scope))
	e.Bytes(b.Meta)
	e.Uvarint(b.Index)
	e.Uvarint(timeNano(b.RegisteredAt))
}

func decodeBinding(d *wire.Decoder) naming.Binding {
	b := naming.Binding{Name: d.String(), PID: d.String(), Scope: naming.Scope(d.Byte()), Meta: d.Bytes(), Index: d.Uvarint()}
	if ns := d.Uvarint(); ns != 0 {
		b.RegisteredAt = unixNano(ns)
	}
	if len(b.Meta) == 0 {
		b.Meta = nil
	}
	return b
}

// Query answers name reads.
func (nt *nameTable) Query(op byte, d *wire.Decoder) ([]byte, error) {
	nt.mu.RLock()
	defer nt.mu.RUnlock()
	var bs []naming.Binding
	switch op {
	case nmGet:
		name := d.String()
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed name get", ErrInvalidArgument)
		}
		b, ok := nt.t.Get(name)
		if !ok {
			return wire.Refusal(&wire.Error{Code: wire.NotFound, Detail: fmt.Sprintf("name %q is not registered", name)}), nil
		}
		bs = []naming.Binding{b}
	case nmList:
		prefix := d.String()
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed name list", ErrInvalidArgument)
		}
		bs = nt.t.List(prefix)
	default:
		return nil, fmt.Errorf("%w: unknown name query %d", ErrInvalidArgument, op)
	}
	r := wire.Result()
	r.Uvarint(uint64(len(bs)))
	for _, b := range bs {
		encodeBinding(r, b)
	}
	return r.Data(), nil
}

// minBindingBytes is the smallest encoded binding: empty strings and meta,
// one-byte scope and numbers.
const minBindingBytes = 6

func decodeBindings(d *wire.Decoder) ([]naming.Binding, error) {
	n := d.Count(minBindingBytes)
	if d.Err() != nil {
		return nil, wire.ErrMalformed
	}
	out := make([]naming.Binding, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, decodeBinding(d))
	}
	return out, d.Done()
}

// nameOwner is the consistent or strong binding of name in the local
// replica, for strong-name acks.
func (nt *nameTable) owner(name string) (naming.Binding, bool) {
	nt.mu.RLock()
	defer nt.mu.RUnlock()
	return nt.t.Get(name)
}

// nodes adds the nodes whose sessions bind or reserve a name.
func (nt *nameTable) nodes(nodes map[string]bool) {
	nt.mu.RLock()
	defer nt.mu.RUnlock()
	for _, node := range nt.t.Nodes() {
		nodes[node] = true
	}
}

// count is how many names the local replica holds in scope.
func (nt *nameTable) count(sc naming.Scope) int {
	nt.mu.RLock()
	defer nt.mu.RUnlock()
	return nt.t.Count(sc)
}
