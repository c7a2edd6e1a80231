package locks

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The semaphore commands and queries ride on the lock table's number
// (TableID) with their own ops; wire format like command.go: numbers are
// append-only, field order never changes.
const (
	opSemAcquire byte = 6 // name pid limit wait_ns now_ns
	opSemRelease byte = 7 // name pid now_ns

	querySemGet  byte = 3 // name
	querySemList byte = 4 // prefix
)

// SemAcquire is the semaphore acquire command.
type SemAcquire struct {
	Name  string
	PID   string
	Limit int
	Wait  time.Duration
	Now   time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c SemAcquire) Marshal() []byte {
	e := wire.Command(TableID, opSemAcquire)
	e.String(c.Name)
	e.String(c.PID)
	e.Uvarint(uint64(c.Limit))
	e.Uvarint(uint64(c.Wait))
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func (c SemAcquire) request() SemAcquireRequest {
	return SemAcquireRequest{Name: c.Name, PID: c.PID, Limit: c.Limit, Wait: c.Wait}
}

func unmarshalSemAcquire(d *wire.Decoder) (SemAcquire, error) {
	c := SemAcquire{Name: d.String(), PID: d.String()}
	limit := d.Uvarint()
	if limit > MaxSemLimit {
		limit = MaxSemLimit + 1 // out of range either way; never overflows int
	}
	c.Limit = int(limit)
	c.Wait = time.Duration(d.Uvarint())
	c.Now = commandTime(d.Uvarint())
	if err := d.Done(); err != nil {
		return c, malformed("semaphore acquire", err)
	}
	return c, nil
}

// SemRelease is the semaphore release command: PID gives up its slot of (or
// its place in the queue of) Name.
type SemRelease struct {
	Name string
	PID  string
	Now  time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c SemRelease) Marshal() []byte {
	e := wire.Command(TableID, opSemRelease)
	e.String(c.Name)
	e.String(c.PID)
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func unmarshalSemRelease(d *wire.Decoder) (SemRelease, error) {
	c := SemRelease{Name: d.String(), PID: d.String(), Now: commandTime(d.Uvarint())}
	if err := d.Done(); err != nil {
		return c, malformed("semaphore release", err)
	}
	return c, nil
}

// SemGet is the query for one semaphore.
type SemGet struct{ Name string }

// Marshal encodes the whole query, envelope header included.
func (q SemGet) Marshal() []byte {
	e := wire.Command(TableID, querySemGet)
	e.String(q.Name)
	return e.Data()
}

// SemList is the query for the semaphores whose names start with Prefix.
type SemList struct{ Prefix string }

// Marshal encodes the whole query, envelope header included.
func (q SemList) Marshal() []byte {
	e := wire.Command(TableID, querySemList)
	e.String(q.Prefix)
	return e.Data()
}

// SemInfo is a semaphore as a query reports it.
type SemInfo struct {
	Name    string
	Limit   int
	Holders []SemHolder // in grant order
	Waiters []WaiterInfo
}

// marshalSemInfos encodes a semaphore query's OK result: the count, then per
// semaphore its name, limit, holders (pid, token, granted at) and waiters
// (pid, deadline).
func marshalSemInfos(ss []Semaphore) []byte {
	r := wire.Result()
	r.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		r.String(s.Name)
		r.Uvarint(uint64(s.Limit))
		r.Uvarint(uint64(len(s.Holders)))
		for _, h := range s.Holders {
			r.String(h.PID)
			r.Uvarint(h.Token)
			r.Uvarint(infoNanos(h.GrantedAt))
		}
		r.Uvarint(uint64(len(s.Waiters)))
		for _, w := range s.Waiters {
			r.String(w.PID)
			r.Uvarint(infoNanos(w.Deadline))
		}
	}
	return r.Data()
}

// ParseSemInfos decodes a semaphore query's result, or returns its refusal
// (a semaphore nobody holds or waits for is wire.ErrNotFound). A result
// that does not decode is an error wrapping wire.ErrMalformed.
func ParseSemInfos(b []byte) ([]SemInfo, error) {
	d, rerr := wire.ParseResult(b)
	if rerr != nil {
		return nil, refusalErr(rerr)
	}
	n := d.Count(4)
	out := make([]SemInfo, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		s := SemInfo{Name: d.String()}
		s.Limit = int(min(d.Uvarint(), MaxSemLimit+1))
		h := d.Count(3)
		for j := 0; j < h && d.Err() == nil; j++ {
			sh := SemHolder{PID: d.String(), Token: d.Uvarint()}
			if ns := d.Uvarint(); ns != 0 {
				sh.GrantedAt = commandTime(ns)
			}
			s.Holders = append(s.Holders, sh)
		}
		w := d.Count(minWaiterInfoBytes)
		for j := 0; j < w && d.Err() == nil; j++ {
			s.Waiters = append(s.Waiters, WaiterInfo{PID: d.String(), Deadline: commandTime(d.Uvarint())})
		}
		out = append(out, s)
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("locks: decode semaphore query result: %w", err)
	}
	return out, nil
}
