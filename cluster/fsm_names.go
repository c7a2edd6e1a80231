package cluster

import (
	"errors"
	"fmt"

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
	resTaken    = 7 // owner scope reserved
	resNotOwner = 8
	resExpired  = 9
)

func (f *fsm) applyNames(index uint64, op byte, d *dec) []byte {
	var (
		evs []naming.Event
		err error
		b   naming.Binding
		out = &enc{b: []byte{resOK}}
	)
	switch op {
	case nmRegister:
		name, pid, meta, now := d.string(), d.string(), d.bytes(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed name register")
		}
		b, evs, err = f.names.Register(index, unixNano(now), name, pid, meta)
		encodeBinding(out, b)
	case nmReserve:
		name, pid, meta, deadline, now := d.string(), d.string(), d.bytes(), d.uvarint(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed name reserve")
		}
		var bound *naming.Binding
		_, bound, err = f.names.Reserve(index, unixNano(now), name, pid, meta, unixNano(deadline))
		if bound != nil {
			out.byte(1)
			encodeBinding(out, *bound)
		} else {
			out.byte(0)
		}
	case nmActivate:
		name, pid, now := d.string(), d.string(), d.uvarint()
		if d.done() != nil {
			return f.reject(index, "malformed name activate")
		}
		b, evs, err = f.names.Activate(index, unixNano(now), name, pid)
		encodeBinding(out, b)
	case nmCancel:
		name, pid := d.string(), d.string()
		if d.done() != nil {
			return f.reject(index, "malformed name cancel")
		}
		f.names.Cancel(name, pid)
	case nmUnregister:
		name, pid := d.string(), d.string()
		if d.done() != nil {
			return f.reject(index, "malformed name unregister")
		}
		evs, err = f.names.Unregister(name, pid)
	default:
		return f.reject(index, fmt.Sprintf("unknown name op %d", op))
	}
	f.namePending = append(f.namePending, evs...)
	if err != nil {
		return nameErrResult(err)
	}
	return out.b
}

func nameErrResult(err error) []byte {
	var c *naming.Conflict
	switch {
	case errors.As(err, &c):
		r := &enc{b: []byte{resTaken}}
		r.string(c.Error())
		r.string(c.Owner)
		r.byte(byte(c.Scope))
		r.byte(boolByte(c.Reserved))
		return r.b
	case errors.Is(err, naming.ErrNotFound):
		return errResult(resNotFound, err.Error())
	case errors.Is(err, naming.ErrNotOwner):
		return errResult(resNotOwner, err.Error())
	case errors.Is(err, naming.ErrExpired):
		return errResult(resExpired, err.Error())
	}
	return errResult(resInvalid, err.Error())
}

func encodeBinding(e *enc, b naming.Binding) {
	e.string(b.Name)
	e.string(b.PID)
	e.byte(byte(b.Scope))
	e.bytes(b.Meta)
	e.uvarint(b.Index)
	e.uvarint(timeNano(b.RegisteredAt))
}

func decodeBinding(d *dec) naming.Binding {
	b := naming.Binding{Name: d.string(), PID: d.string(), Scope: naming.Scope(d.byte()), Meta: d.bytes(), Index: d.uvarint()}
	if ns := d.uvarint(); ns != 0 {
		b.RegisteredAt = unixNano(ns)
	}
	if len(b.Meta) == 0 {
		b.Meta = nil
	}
	return b
}

// queryNames answers name reads; the caller holds f.mu for reading.
func (f *fsm) queryNames(op byte, d *dec) ([]byte, error) {
	var bs []naming.Binding
	switch op {
	case nmGet:
		name := d.string()
		if d.done() != nil {
			return nil, fmt.Errorf("%w: malformed name get", ErrInvalidArgument)
		}
		b, ok := f.names.Get(name)
		if !ok {
			return errResult(resNotFound, fmt.Sprintf("name %q is not registered", name)), nil
		}
		bs = []naming.Binding{b}
	case nmList:
		prefix := d.string()
		if d.done() != nil {
			return nil, fmt.Errorf("%w: malformed name list", ErrInvalidArgument)
		}
		bs = f.names.List(prefix)
	default:
		return nil, fmt.Errorf("%w: unknown name query %d", ErrInvalidArgument, op)
	}
	r := &enc{b: []byte{resOK}}
	r.uvarint(uint64(len(bs)))
	for _, b := range bs {
		encodeBinding(r, b)
	}
	return r.b, nil
}

// minBindingBytes is the smallest encoded binding: empty strings and meta,
// one-byte scope and numbers.
const minBindingBytes = 6

func decodeBindings(d *dec) ([]naming.Binding, error) {
	n := d.count(minBindingBytes)
	if d.err != nil {
		return nil, errShort
	}
	out := make([]naming.Binding, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, decodeBinding(d))
	}
	return out, d.done()
}

// nameOwner is the consistent or strong binding of name in the local
// replica, for strong-name acks.
func (f *fsm) nameOwner(name string) (naming.Binding, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.names.Get(name)
}
