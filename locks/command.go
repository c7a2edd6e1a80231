package locks

import (
	"errors"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The lock table's place in the command envelope, and the encodings of its
// commands, results and queries: the one definition both the replicated
// table (which decodes them) and the Service (which encodes them) use, so
// the two sides cannot drift. All of it is wire format: numbers are
// append-only, field order never changes.
//
// Every command carries the proposer's time, so Apply never reads the
// clock (STYLE 12).
const (
	// TableID is the lock table's number in the command envelope.
	TableID byte = 2

	opAcquire byte = 1 // name pid wait_ns delay_ns now_ns
	opRelease byte = 2 // name pid now_ns
	// Ops 3 and 4 are the envelope's release-session (pid now_ns) and
	// release-node (node now_ns): they ride on this table's number and the
	// envelope hands them to every SessionReleaser, this table first.
	opTick byte = 5 // now_ns

	queryGet  byte = 1 // name
	queryList byte = 2 // prefix
)

// Acquire is the acquire command: take Name for PID at Now, queueing up to
// Wait, with LockDelay applied if the grant is auto-released.
type Acquire struct {
	Name      string
	PID       string
	Wait      time.Duration
	LockDelay time.Duration
	Now       time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c Acquire) Marshal() []byte {
	e := wire.Command(TableID, opAcquire)
	e.String(c.Name)
	e.String(c.PID)
	e.Uvarint(uint64(c.Wait))
	e.Uvarint(uint64(c.LockDelay))
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func (c Acquire) request() AcquireRequest {
	return AcquireRequest{Name: c.Name, PID: c.PID, Wait: c.Wait, LockDelay: c.LockDelay}
}

func unmarshalAcquire(d *wire.Decoder) (Acquire, error) {
	c := Acquire{Name: d.String(), PID: d.String()}
	c.Wait, c.LockDelay = time.Duration(d.Uvarint()), time.Duration(d.Uvarint())
	c.Now = commandTime(d.Uvarint())
	if err := d.Done(); err != nil {
		return c, malformed("lock acquire", err)
	}
	return c, nil
}

// Release is the release command: PID gives up Name (held or waited for).
type Release struct {
	Name string
	PID  string
	Now  time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c Release) Marshal() []byte {
	e := wire.Command(TableID, opRelease)
	e.String(c.Name)
	e.String(c.PID)
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func (c Release) validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	return validatePID("pid", c.PID)
}

func unmarshalRelease(d *wire.Decoder) (Release, error) {
	c := Release{Name: d.String(), PID: d.String(), Now: commandTime(d.Uvarint())}
	if err := d.Done(); err != nil {
		return c, malformed("lock release", err)
	}
	return c, nil
}

// Tick is the leader's command that applies the passage of time: expired
// waits and ended lock delays, and the grants they free.
type Tick struct {
	Now time.Time
}

// Marshal encodes the whole command, envelope header included.
func (c Tick) Marshal() []byte {
	e := wire.Command(TableID, opTick)
	e.Uvarint(commandNanos(c.Now))
	return e.Data()
}

func unmarshalTick(d *wire.Decoder) (Tick, error) {
	c := Tick{Now: commandTime(d.Uvarint())}
	if err := d.Done(); err != nil {
		return c, malformed("lock tick", err)
	}
	return c, nil
}

// commandNanos and commandTime carry a command's time as Unix nanoseconds
// (a proposer's clock is never before 1970).
func commandNanos(t time.Time) uint64 { return uint64(t.UnixNano()) }
func commandTime(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

func malformed(what string, err error) error {
	return fmt.Errorf("%w: malformed %s: %w", ErrInvalid, what, err)
}

// marshalAcquireResult encodes an acquire's OK result: granted, token,
// queued, position, holder, and the acquire's own entry index (a grant the
// acquire then waits for comes with a later one).
func marshalAcquireResult(r AcquireResult, index uint64) []byte {
	e := wire.Result()
	e.Bool(r.Granted)
	e.Uvarint(r.Token)
	e.Bool(r.Queued)
	e.Uvarint(uint64(r.Position))
	e.String(r.Holder)
	e.Uvarint(index)
	return e.Data()
}

// ParseAcquireResult decodes an acquire's result: the outcome and the
// index of the acquire's entry, or the refusal as an error matching the
// lock sentinels (refusalErr). A result that does not decode is an error
// wrapping wire.ErrMalformed.
func ParseAcquireResult(b []byte) (AcquireResult, uint64, error) {
	d, rerr := wire.ParseResult(b)
	if rerr != nil {
		return AcquireResult{}, 0, refusalErr(rerr)
	}
	r := AcquireResult{Granted: d.Bool(), Token: d.Uvarint(), Queued: d.Bool()}
	r.Position = int(d.Uvarint())
	r.Holder = d.String()
	index := d.Uvarint()
	if err := d.Done(); err != nil {
		return AcquireResult{}, 0, fmt.Errorf("locks: decode acquire result: %w", err)
	}
	return r, index, nil
}

// parseOK reads a result that carries no fields: nil, or the refusal.
func parseOK(b []byte) error {
	d, rerr := wire.ParseResult(b)
	if rerr != nil {
		return refusalErr(rerr)
	}
	if err := d.Done(); err != nil {
		return fmt.Errorf("locks: decode result: %w", err)
	}
	return nil
}

// refusalErr gives a refusal that crossed Raft the sentinel its code
// stands for: the one place where the lock table's codes become errors.
// The error's text stays the detail (`lock "x" is held by n1/ab`).
func refusalErr(e *wire.Error) error {
	switch e.Code {
	case CodeHeld:
		e.Err = ErrHeld
	case CodeNotHolder:
		e.Err = ErrNotHolder
	case CodeQueueFull:
		// A full queue is "try again later" to the caller.
		e.Err = wire.ErrUnavailable
	}
	return e
}

// refusal is how the replicated table answers a call of the pure table
// that failed: a refusal by the table's state (*wire.Error) is an OK call
// whose result is the refusal; anything else broke a rule and is the
// call's error.
func refusal(err error) ([]byte, error) {
	var e *wire.Error
	if errors.As(err, &e) {
		return wire.Refusal(e), nil
	}
	return nil, err
}

// Get is the query for one lock.
type Get struct{ Name string }

// Marshal encodes the whole query, envelope header included.
func (q Get) Marshal() []byte {
	e := wire.Command(TableID, queryGet)
	e.String(q.Name)
	return e.Data()
}

// List is the query for the locks whose names start with Prefix.
type List struct{ Prefix string }

// Marshal encodes the whole query, envelope header included.
func (q List) Marshal() []byte {
	e := wire.Command(TableID, queryList)
	e.String(q.Prefix)
	return e.Data()
}

// Info is a lock as a query reports it.
type Info struct {
	Name       string
	Holder     string // PID; "" while in lock delay
	Token      uint64 // fencing token of the current grant
	GrantedAt  time.Time
	LockDelay  time.Duration
	DelayUntil time.Time // non-zero while an auto-released lock is held back
	Waiters    []WaiterInfo
}

// WaiterInfo is one queued acquirer as a query reports it.
type WaiterInfo struct {
	PID      string
	Deadline time.Time
}

// marshalInfos encodes a query's OK result: the count, then per lock its
// name, holder, token, grant time, lock delay, delay end, and waiters
// (pid, deadline). Times are Unix nanoseconds, 0 for none.
func marshalInfos(ls []Lock) []byte {
	r := wire.Result()
	r.Uvarint(uint64(len(ls)))
	for _, l := range ls {
		r.String(l.Name)
		r.String(l.Holder)
		r.Uvarint(l.Token)
		r.Uvarint(infoNanos(l.GrantedAt))
		r.Uvarint(uint64(l.LockDelay))
		r.Uvarint(infoNanos(l.DelayUntil))
		r.Uvarint(uint64(len(l.Waiters)))
		for _, w := range l.Waiters {
			r.String(w.PID)
			r.Uvarint(infoNanos(w.Deadline))
		}
	}
	return r.Data()
}

// The smallest encoded lock (one-byte numbers and lengths, no waiters) and
// waiter: they bound the counts a result can claim.
const (
	minInfoBytes       = 7
	minWaiterInfoBytes = 2
)

// ParseInfos decodes a lock query's result, or returns its refusal (a
// free lock is wire.ErrNotFound). A result that does not decode is an
// error wrapping wire.ErrMalformed.
func ParseInfos(b []byte) ([]Info, error) {
	d, rerr := wire.ParseResult(b)
	if rerr != nil {
		return nil, refusalErr(rerr)
	}
	n := d.Count(minInfoBytes)
	out := make([]Info, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		l := Info{Name: d.String(), Holder: d.String(), Token: d.Uvarint()}
		if ns := d.Uvarint(); ns != 0 {
			l.GrantedAt = commandTime(ns)
		}
		l.LockDelay = time.Duration(d.Uvarint())
		if ns := d.Uvarint(); ns != 0 {
			l.DelayUntil = commandTime(ns)
		}
		w := d.Count(minWaiterInfoBytes)
		for j := 0; j < w && d.Err() == nil; j++ {
			l.Waiters = append(l.Waiters, WaiterInfo{PID: d.String(), Deadline: commandTime(d.Uvarint())})
		}
		out = append(out, l)
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("locks: decode query result: %w", err)
	}
	return out, nil
}

func infoNanos(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}
