package registry

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Table is the registry's Raft-replicated table: the State behind the FSM
// envelope, under TableID. It implements cluster's Table and
// SessionReleaser (structurally: registry does not import cluster).
//
// Apply, ReleaseSession, ReleaseNode, Snapshot and Restore are called
// from Raft's FSM goroutine; Screen, Query and the readers concurrently
// from request goroutines. The Table guards the State with its own lock.
type Table struct {
	mu      sync.RWMutex
	st      *State
	changed chan struct{} // closed and replaced at every change
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{st: NewState(), changed: make(chan struct{})} }

// Changed is closed at the next change of the table (an instance added,
// changed or removed, a snapshot restored; not a last_seen refresh). Call
// it again for the change after that.
func (t *Table) Changed() <-chan struct{} {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.changed
}

// notifyLocked wakes the waiters if the state's last change moved.
func (t *Table) notifyLocked(before uint64) {
	if t.st.lastChange != before {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// Apply applies a registry command as the entry at index: a register's
// result is the instance, any other's the entry's index. A command the
// state refuses (an instance owned by another session, gone) is a refusal
// result; one that breaks the table's rules (unknown op, malformed or
// invalid fields) is an error.
func (t *Table) Apply(index uint64, op byte, fields *wire.Decoder) ([]byte, error) {
	c, err := unmarshal(op, fields)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.st.lastChange
	defer t.notifyLocked(before)
	out := wire.Result()
	switch c := c.(type) {
	case Register:
		var in Instance
		if in, err = t.st.Register(index, c); err == nil {
			encodeInstance(out, &in)
		}
	case Deregister:
		err = t.st.Deregister(index, c.Service, c.ID, c.PID)
		out.Uvarint(index)
	case SetHealth:
		err = t.st.SetHealth(index, c)
		out.Uvarint(index)
	case LastSeen:
		t.st.SeeBatch(c)
		out.Uvarint(index)
	}
	if err != nil {
		return wire.Refusal(err), nil
	}
	return out.Data(), nil
}

// Screen checks a command's fields with Apply's own check, for the leader
// before it proposes the command.
func (t *Table) Screen(op byte, fields *wire.Decoder) error {
	_, err := unmarshal(op, fields)
	return err
}

// Query answers a read of the local replica: the instances a filter
// selects, or the services, each with the answer's index.
func (t *Table) Query(op byte, d *wire.Decoder) ([]byte, error) {
	res := wire.Result()
	switch op {
	case queryInstances:
		f := Filter{Service: d.StringMax(maxDecodeString), Tag: d.StringMax(maxDecodeString), Group: d.StringMax(maxDecodeString), PassingOnly: d.Bool()}
		if err := d.Done(); err != nil {
			return nil, fmt.Errorf("%w: malformed registry instances query: %w", wire.ErrInvalid, err)
		}
		t.mu.RLock()
		ins, idx := t.st.List(f), t.st.Index(f)
		t.mu.RUnlock()
		res.Uvarint(idx)
		res.Uvarint(uint64(len(ins)))
		for _, in := range ins {
			encodeInstance(res, in)
		}
	case queryServices:
		if err := d.Done(); err != nil {
			return nil, fmt.Errorf("%w: malformed registry services query: %w", wire.ErrInvalid, err)
		}
		sums, idx := t.Services()
		res.Uvarint(idx)
		res.Uvarint(uint64(len(sums)))
		for _, s := range sums {
			res.String(s.Name)
			res.Uvarint(uint64(s.Passing))
			res.Uvarint(uint64(s.Warning))
			res.Uvarint(uint64(s.Critical))
			encodeStrings(res, s.Tags)
		}
	case queryIndex:
		if err := d.Done(); err != nil {
			return nil, fmt.Errorf("%w: malformed registry index query: %w", wire.ErrInvalid, err)
		}
		res.Uvarint(t.LastChange())
	default:
		return nil, wire.Invalidf("op", "unknown registry query %d", op)
	}
	return res.Data(), nil
}

// decodeInstances reads a queryInstances result.
func decodeInstances(d *wire.Decoder) ([]Instance, uint64, error) {
	idx := d.Uvarint()
	n := d.Count(20)
	out := make([]Instance, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, *decodeInstance(d))
	}
	if err := d.Done(); err != nil {
		return nil, 0, err
	}
	return out, idx, nil
}

// decodeServices reads a queryServices result.
func decodeServices(d *wire.Decoder) ([]ServiceSummary, uint64, error) {
	idx := d.Uvarint()
	n := d.Count(5)
	out := make([]ServiceSummary, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		s := ServiceSummary{Name: d.StringMax(maxDecodeString)}
		s.Passing, s.Warning, s.Critical = int(d.Uvarint()), int(d.Uvarint()), int(d.Uvarint())
		s.Tags = decodeStrings(d)
		out = append(out, s)
	}
	if err := d.Done(); err != nil {
		return nil, 0, err
	}
	return out, idx, nil
}

// ReleaseSession removes the instances pid owns (the envelope's
// release-session entry).
func (t *Table) ReleaseSession(index uint64, _ time.Time, pid string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.st.lastChange
	t.st.ReleaseSession(index, pid)
	t.notifyLocked(before)
	return nil
}

// ReleaseNode removes the instances of every session of node (the
// envelope's release-node entry).
func (t *Table) ReleaseNode(index uint64, _ time.Time, node string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.st.lastChange
	t.st.ReleaseNode(index, node)
	t.notifyLocked(before)
	return nil
}

// Instances returns deep copies of the instances f selects, sorted by
// service then ID, and the answer's index (State.Index).
func (t *Table) Instances(f Filter) ([]Instance, uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return clones(t.st.List(f)), t.st.Index(f)
}

// OfNode returns copies of the instances of node's sessions, in no order.
func (t *Table) OfNode(node string) []Instance {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return clones(t.st.OfNode(node))
}

func clones(ins []*Instance) []Instance {
	out := make([]Instance, len(ins))
	for i, in := range ins {
		out[i] = in.clone()
	}
	return out
}

// Get returns one instance.
func (t *Table) Get(service, id string) (Instance, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e := t.st.services[service]; e != nil {
		if in := e.byID[id]; in != nil {
			return in.clone(), true
		}
	}
	return Instance{}, false
}

// Services summarizes every service, sorted by name, with the table's
// last change index.
func (t *Table) Services() ([]ServiceSummary, uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Services(), t.st.lastChange
}

// LastChange is the index of the last entry that changed the table (an
// entry that only refreshed last_seen does not count).
func (t *Table) LastChange() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.lastChange
}

// Len is the number of instances in this replica.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Len()
}

// Nodes lists, sorted, the nodes whose sessions own an instance in this
// replica: the nodes a release-node entry would change here.
func (t *Table) Nodes() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.Nodes()
}

// PIDs lists, sorted, node's sessions that own an instance here.
func (t *Table) PIDs(node string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.st.PIDs(node)
}

// Snapshot takes the table's view (the instances are immutable, so the
// copy is of the structure) and returns the writer of its section: a
// header frame (last change, last removal, number of services), then per
// service, in name order, a frame (name, index, number of instances) and
// its instances' frames in ID order. A table that never changed has no
// section.
func (t *Table) Snapshot() (func(w io.Writer) error, error) {
	t.mu.RLock()
	v := t.st.view()
	t.mu.RUnlock()
	if v.lastChange == 0 && len(v.services) == 0 {
		return nil, nil
	}
	return func(w io.Writer) error {
		head := wire.NewEncoder()
		head.Uvarint(v.lastChange)
		head.Uvarint(v.lastRemoved)
		head.Uvarint(uint64(len(v.services)))
		if err := wire.WriteFrame(w, head.Data()); err != nil {
			return err
		}
		for _, sv := range v.services {
			rec := wire.NewEncoder()
			rec.String(sv.name)
			rec.Uvarint(sv.index)
			rec.Uvarint(uint64(len(sv.instances)))
			if err := wire.WriteFrame(w, rec.Data()); err != nil {
				return err
			}
			for _, in := range sv.instances {
				rec := wire.NewEncoder()
				encodeInstance(rec, in)
				if err := wire.WriteFrame(w, rec.Data()); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil
}

// Restore reads the table's section (nil: the snapshot has none, the
// table is empty) into new state and returns the commit that installs it.
func (t *Table) Restore(r *bufio.Reader) (func(), error) {
	st := NewState()
	if r != nil {
		if err := restoreInto(st, r); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("registry: restore: %w", err)
		}
	}
	return func() {
		t.mu.Lock()
		t.st = st
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
	}, nil
}

func restoreInto(st *State, r *bufio.Reader) error {
	b, err := wire.ReadFrame(r)
	if err != nil {
		return err
	}
	d := wire.NewDecoder(b)
	st.lastChange, st.lastRemoved = d.Uvarint(), d.Uvarint()
	nsvc := d.Uvarint()
	if err := d.Done(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	for i := uint64(0); i < nsvc; i++ {
		b, err := wire.ReadFrame(r)
		if err != nil {
			return fmt.Errorf("service %d: %w", i, err)
		}
		d := wire.NewDecoder(b)
		name, index, n := d.StringMax(maxDecodeString), d.Uvarint(), d.Uvarint()
		if err := d.Done(); err != nil {
			return fmt.Errorf("service %d: %w", i, err)
		}
		if n == 0 || st.services[name] != nil {
			return fmt.Errorf("service %d (%q): empty or repeated", i, name)
		}
		e := &serviceEntry{index: index, byID: map[string]*Instance{}}
		st.services[name] = e
		for j := uint64(0); j < n; j++ {
			b, err := wire.ReadFrame(r)
			if err != nil {
				return fmt.Errorf("service %q instance %d: %w", name, j, err)
			}
			d := wire.NewDecoder(b)
			in := decodeInstance(d)
			if err := d.Done(); err != nil {
				return fmt.Errorf("service %q instance %d: %w", name, j, err)
			}
			if in.Service != name || e.byID[in.ID] != nil {
				return fmt.Errorf("service %q instance %d (%q): of another service or repeated", name, j, in.ID)
			}
			e.byID[in.ID] = in
		}
	}
	return nil
}

// ParseInstanceResult decodes a register command's result: the instance,
// or the refusal as this package's error. For the FSM's fuzz checks.
func ParseInstanceResult(r []byte) (Instance, error) {
	d, refused := wire.ParseResult(r)
	if refused != nil {
		return Instance{}, refusalErr(refused)
	}
	in := decodeInstance(d)
	return *in, d.Done()
}

// ParseQueryResult decodes a query's result (instances or services), as
// the Service does. For the FSM's fuzz checks.
func ParseQueryResult(op byte, r []byte) error {
	d, refused := wire.ParseResult(r)
	if refused != nil {
		return refusalErr(refused)
	}
	var err error
	switch op {
	case queryInstances:
		_, _, err = decodeInstances(d)
	case queryServices:
		_, _, err = decodeServices(d)
	case queryIndex:
		_ = d.Uvarint()
		err = d.Done()
	default:
		err = fmt.Errorf("registry: unknown query %d", op)
	}
	return err
}
