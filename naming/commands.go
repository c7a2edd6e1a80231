package naming

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// TableID is the name table's number in the command envelope (wire.Command).
// Commands and queries of the table are numbered below; every number is
// wire format, written to the Raft log, and never changes meaning.
const TableID = 3

// Command ops. Release of a session's or a node's names rides on the
// envelope's release-session and release-node commands (Table's
// ReleaseSession and ReleaseNode), so that everything a session held goes
// in one Raft entry (DESIGN §3).
const (
	opRegister   = 1 // name pid meta now_ns
	opReserve    = 2 // name pid meta deadline_ns now_ns
	opActivate   = 3 // name pid now_ns
	opCancel     = 4 // name pid
	opUnregister = 5 // name pid
)

// Query ops.
const (
	queryGet  = 1 // name
	queryList = 2 // prefix
)

// Register binds Name to PID in scope consistent, first write wins; Now is
// the proposer's clock.
type Register struct {
	Name, PID string
	Meta      []byte
	Now       time.Time
}

// Reserve starts a strong registration: Name is held for PID until
// Deadline, invisible to lookups, while every live node is asked.
type Reserve struct {
	Name, PID     string
	Meta          []byte
	Deadline, Now time.Time
}

// Activate turns PID's reservation of Name into a strong binding.
type Activate struct {
	Name, PID string
	Now       time.Time
}

// Cancel drops PID's reservation of Name (a strong registration refused or
// out of time).
type Cancel struct{ Name, PID string }

// Unregister removes PID's binding of Name.
type Unregister struct{ Name, PID string }

// Times cross the log as the bits of their Unix nanoseconds in a uvarint,
// as they always have.
func putTime(e *wire.Encoder, t time.Time) { e.Uvarint(uint64(t.UnixNano())) }
func getTime(d *wire.Decoder) time.Time    { return time.Unix(0, int64(d.Uvarint())).UTC() }

// Marshal encodes the command for the Raft log.
func (c Register) Marshal() []byte {
	e := wire.Command(TableID, opRegister)
	e.String(c.Name)
	e.String(c.PID)
	e.Bytes(c.Meta)
	putTime(e, c.Now)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c Reserve) Marshal() []byte {
	e := wire.Command(TableID, opReserve)
	e.String(c.Name)
	e.String(c.PID)
	e.Bytes(c.Meta)
	putTime(e, c.Deadline)
	putTime(e, c.Now)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c Activate) Marshal() []byte {
	e := wire.Command(TableID, opActivate)
	e.String(c.Name)
	e.String(c.PID)
	putTime(e, c.Now)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c Cancel) Marshal() []byte {
	e := wire.Command(TableID, opCancel)
	e.String(c.Name)
	e.String(c.PID)
	return e.Data()
}

// Marshal encodes the command for the Raft log.
func (c Unregister) Marshal() []byte {
	e := wire.Command(TableID, opUnregister)
	e.String(c.Name)
	e.String(c.PID)
	return e.Data()
}

// unmarshal decodes a command's fields (after the envelope's header) and
// checks them against the table's rules: the one check behind both the
// leader's screen and the apply. The result is one of the command types.
func unmarshal(op byte, d *wire.Decoder) (any, error) {
	var (
		c   any
		err error
	)
	switch op {
	case opRegister:
		r := Register{Name: d.String(), PID: d.String(), Meta: d.BytesMax(-1), Now: getTime(d)}
		c, err = r, validateRegistration(r.Name, r.PID, r.Meta)
	case opReserve:
		r := Reserve{Name: d.String(), PID: d.String(), Meta: d.BytesMax(-1), Deadline: getTime(d), Now: getTime(d)}
		c, err = r, validateRegistration(r.Name, r.PID, r.Meta)
	case opActivate:
		a := Activate{Name: d.String(), PID: d.String(), Now: getTime(d)}
		c, err = a, validateTarget(a.Name, a.PID)
	case opCancel:
		x := Cancel{Name: d.String(), PID: d.String()}
		c, err = x, validateTarget(x.Name, x.PID)
	case opUnregister:
		u := Unregister{Name: d.String(), PID: d.String()}
		c, err = u, validateTarget(u.Name, u.PID)
	default:
		return nil, wire.Invalidf("op", "unknown name op %d", op)
	}
	if derr := d.Done(); derr != nil {
		return nil, fmt.Errorf("%w: malformed name command: %w", wire.ErrInvalid, derr)
	}
	return c, err
}

// Queries.

func getQuery(name string) []byte {
	e := wire.Command(TableID, queryGet)
	e.String(name)
	return e.Data()
}

func listQuery(prefix string) []byte {
	e := wire.Command(TableID, queryList)
	e.String(prefix)
	return e.Data()
}

// Bindings in results: name pid scope meta index registered_ns (0 for the
// zero time).

func encodeBinding(e *wire.Encoder, b Binding) {
	e.String(b.Name)
	e.String(b.PID)
	e.Byte(byte(b.Scope))
	e.Bytes(b.Meta)
	e.Uvarint(b.Index)
	if b.RegisteredAt.IsZero() {
		e.Uvarint(0)
	} else {
		putTime(e, b.RegisteredAt)
	}
}

func decodeBinding(d *wire.Decoder) Binding {
	b := Binding{Name: d.String(), PID: d.String(), Scope: Scope(d.Byte()), Meta: d.BytesMax(-1), Index: d.Uvarint()}
	if ns := d.Uvarint(); ns != 0 {
		b.RegisteredAt = time.Unix(0, int64(ns)).UTC()
	}
	return b
}

// minBindingBytes is the smallest encoded binding: empty strings and meta,
// one-byte scope and numbers.
const minBindingBytes = 6

// decodeBindings reads a query result's count and bindings.
func decodeBindings(d *wire.Decoder) ([]Binding, error) {
	n := d.Count(minBindingBytes)
	if err := d.Err(); err != nil {
		return nil, err
	}
	out := make([]Binding, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, decodeBinding(d))
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return out, nil
}
