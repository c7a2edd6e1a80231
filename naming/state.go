package naming

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Binding is a name bound to a session.
type Binding struct {
	Name  string
	PID   string
	Scope Scope
	Meta  []byte
	// Index is the Raft index of the entry that made the binding active
	// (0 for local and eventual bindings).
	Index uint64
	// RegisteredAt is when the binding became active (the proposer's clock
	// for consistent and strong names, the origin's for eventual and local).
	RegisteredAt time.Time
}

// Reservation is a strong registration waiting for every live node's ack.
type Reservation struct {
	Name     string
	PID      string
	Meta     []byte
	Index    uint64
	Deadline time.Time
}

// EventKind says what happened to a binding.
type EventKind uint8

const (
	// Bound: the binding became active.
	Bound EventKind = 1
	// Unbound: the binding was removed (unregistered, session or node gone,
	// or revoked by a conflict).
	Unbound EventKind = 2
)

func (k EventKind) String() string {
	if k == Bound {
		return "bound"
	}
	return "unbound"
}

// Event is a change to the bindings, for watchers.
type Event struct {
	Kind    EventKind
	Binding Binding
}

// State is the pure state of consistent and strong names, which Table
// replicates through Raft. It reads no clock: every call that depends on
// time is given the time the proposer wrote into the command. Not safe for
// concurrent use.
type State struct {
	bindings map[string]*Binding
	reserved map[string]*Reservation
	// byPID indexes the names each PID has bound or reserved.
	byPID map[string]map[string]struct{}
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		bindings: map[string]*Binding{},
		reserved: map[string]*Reservation{},
		byPID:    map[string]map[string]struct{}{},
	}
}

// Len is the number of active bindings.
func (t *State) Len() int { return len(t.bindings) }

// Count is the number of active bindings in scope.
func (t *State) Count(scope Scope) int {
	n := 0
	for _, b := range t.bindings {
		if b.Scope == scope {
			n++
		}
	}
	return n
}

// Get returns a copy of the binding of name.
func (t *State) Get(name string) (Binding, bool) {
	b, ok := t.bindings[name]
	if !ok {
		return Binding{}, false
	}
	return *b, true
}

// GetReservation returns a copy of the pending reservation of name, if any
// (expired ones included: they are dropped lazily).
func (t *State) GetReservation(name string) (Reservation, bool) {
	r, ok := t.reserved[name]
	if !ok {
		return Reservation{}, false
	}
	return *r, true
}

// List returns the active bindings whose names start with prefix, by name.
func (t *State) List(prefix string) []Binding {
	names := make([]string, 0, len(t.bindings))
	for n := range t.bindings {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]Binding, len(names))
	for i, n := range names {
		out[i] = *t.bindings[n]
	}
	return out
}

// owner returns the conflict that stops pid from taking name at now, or
// nil. An expired reservation is dropped on the way.
func (t *State) owner(name, pid string, now time.Time) *Conflict {
	if b, ok := t.bindings[name]; ok && b.PID != pid {
		return &Conflict{Name: name, Owner: b.PID, Scope: b.Scope}
	}
	if r, ok := t.reserved[name]; ok {
		if !now.Before(r.Deadline) {
			t.dropReservation(r)
		} else if r.PID != pid {
			return &Conflict{Name: name, Owner: r.PID, Scope: ScopeStrong, Reserved: true}
		}
	}
	return nil
}

// Register binds name to pid in scope consistent, first write wins. A
// registration by the PID that already holds the name returns its binding
// unchanged (idempotent).
func (t *State) Register(index uint64, now time.Time, name, pid string, meta []byte) (Binding, []Event, error) {
	if err := validateRegistration(name, pid, meta); err != nil {
		return Binding{}, nil, err
	}
	if c := t.owner(name, pid, now); c != nil {
		return Binding{}, nil, c
	}
	if b, ok := t.bindings[name]; ok {
		return *b, nil, nil
	}
	if _, ok := t.reserved[name]; ok {
		return Binding{}, nil, wire.Invalidf("name", "%q: a strong registration by this session is in progress", name)
	}
	b := t.bind(&Binding{Name: name, PID: pid, Scope: ScopeConsistent, Meta: meta, Index: index, RegisteredAt: now})
	return *b, []Event{{Kind: Bound, Binding: *b}}, nil
}

// Reserve starts a strong registration: it holds name for pid until
// deadline, refusing everyone else, without making it visible to lookups.
// Reserving a name the PID already holds returns that binding and no
// reservation (idempotent).
func (t *State) Reserve(index uint64, now time.Time, name, pid string, meta []byte, deadline time.Time) (Reservation, *Binding, error) {
	if err := validateRegistration(name, pid, meta); err != nil {
		return Reservation{}, nil, err
	}
	if !deadline.After(now) {
		return Reservation{}, nil, wire.Invalidf("deadline", "%s is not after the command's time %s", deadline, now)
	}
	if c := t.owner(name, pid, now); c != nil {
		return Reservation{}, nil, c
	}
	if b, ok := t.bindings[name]; ok {
		cp := *b
		return Reservation{}, &cp, nil
	}
	r := &Reservation{Name: name, PID: pid, Meta: meta, Index: index, Deadline: deadline}
	if old, ok := t.reserved[name]; ok {
		t.dropReservation(old)
	}
	t.reserved[name] = r
	t.index(pid, name)
	return *r, nil, nil
}

// Activate turns pid's reservation of name into a strong binding, if it
// has not expired at now.
func (t *State) Activate(index uint64, now time.Time, name, pid string) (Binding, []Event, error) {
	r, ok := t.reserved[name]
	if !ok || r.PID != pid {
		if b, ok := t.bindings[name]; ok && b.PID == pid {
			return *b, nil, nil // a replayed activation
		}
		return Binding{}, nil, wire.Refuse(CodeExpired, ErrExpired, "name %q has no reservation by %s", name, pid)
	}
	if !now.Before(r.Deadline) {
		t.dropReservation(r)
		return Binding{}, nil, wire.Refuse(CodeExpired, ErrExpired, "the reservation of %q passed its deadline %s", name, r.Deadline.Format(time.RFC3339Nano))
	}
	delete(t.reserved, name)
	b := t.bind(&Binding{Name: name, PID: pid, Scope: ScopeStrong, Meta: r.Meta, Index: index, RegisteredAt: now})
	return *b, []Event{{Kind: Bound, Binding: *b}}, nil
}

// Cancel drops pid's reservation of name; a missing one is not an error.
func (t *State) Cancel(name, pid string) {
	if r, ok := t.reserved[name]; ok && r.PID == pid {
		t.dropReservation(r)
	}
}

// Unregister removes pid's binding of name (and any reservation it has).
func (t *State) Unregister(name, pid string) ([]Event, error) {
	if err := validateTarget(name, pid); err != nil {
		return nil, err
	}
	t.Cancel(name, pid)
	b, ok := t.bindings[name]
	if !ok {
		return nil, notRegistered(name)
	}
	if b.PID != pid {
		return nil, notOwner(name, b.PID, pid)
	}
	return []Event{t.unbind(b)}, nil
}

// ReleaseSession removes everything pid bound or reserved.
func (t *State) ReleaseSession(pid string) []Event {
	names := sortedKeys(t.byPID[pid])
	var evs []Event
	for _, n := range names {
		if r, ok := t.reserved[n]; ok && r.PID == pid {
			t.dropReservation(r)
		}
		if b, ok := t.bindings[n]; ok && b.PID == pid {
			evs = append(evs, t.unbind(b))
		}
	}
	return evs
}

// ReleaseNode removes everything the sessions of node bound or reserved.
func (t *State) ReleaseNode(node string) []Event {
	prefix := node + "/"
	var pids []string
	for pid := range t.byPID {
		if strings.HasPrefix(pid, prefix) {
			pids = append(pids, pid)
		}
	}
	sort.Strings(pids)
	var evs []Event
	for _, pid := range pids {
		evs = append(evs, t.ReleaseSession(pid)...)
	}
	return evs
}

func (t *State) bind(b *Binding) *Binding {
	t.bindings[b.Name] = b
	t.index(b.PID, b.Name)
	return b
}

func (t *State) unbind(b *Binding) Event {
	delete(t.bindings, b.Name)
	t.unindex(b.PID, b.Name)
	return Event{Kind: Unbound, Binding: *b}
}

func (t *State) dropReservation(r *Reservation) {
	delete(t.reserved, r.Name)
	if b, ok := t.bindings[r.Name]; !ok || b.PID != r.PID {
		t.unindex(r.PID, r.Name)
	}
}

func (t *State) index(pid, name string) {
	m := t.byPID[pid]
	if m == nil {
		m = map[string]struct{}{}
		t.byPID[pid] = m
	}
	m[name] = struct{}{}
}

func (t *State) unindex(pid, name string) {
	if r, ok := t.reserved[name]; ok && r.PID == pid {
		return
	}
	m := t.byPID[pid]
	delete(m, name)
	if len(m) == 0 {
		delete(t.byPID, pid)
	}
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Snapshot encoding: version, bindings by name, reservations by name.
// Times are Unix nanoseconds as uvarints (the bits of int64, as they were
// always written).
const snapVersion = 1

// MarshalBinary encodes the state canonically (sorted by name).
func (t *State) MarshalBinary() ([]byte, error) {
	e := wire.NewEncoder(snapVersion)
	bs := t.List("")
	e.Uvarint(uint64(len(bs)))
	for _, b := range bs {
		e.String(b.Name)
		e.String(b.PID)
		e.Byte(byte(b.Scope))
		e.Bytes(b.Meta)
		e.Uvarint(b.Index)
		e.Uvarint(uint64(b.RegisteredAt.UnixNano()))
	}
	names := make([]string, 0, len(t.reserved))
	for n := range t.reserved {
		names = append(names, n)
	}
	sort.Strings(names)
	e.Uvarint(uint64(len(names)))
	for _, n := range names {
		r := t.reserved[n]
		e.String(r.Name)
		e.String(r.PID)
		e.Bytes(r.Meta)
		e.Uvarint(r.Index)
		e.Uvarint(uint64(r.Deadline.UnixNano()))
	}
	return e.Data(), nil
}

// UnmarshalBinary replaces the state with an encoding MarshalBinary wrote,
// checking every entry as a command would be checked.
func (t *State) UnmarshalBinary(b []byte) error {
	d := wire.NewDecoder(b)
	if v := d.Byte(); d.Err() == nil && v != snapVersion {
		return fmt.Errorf("naming: snapshot version %d not understood", v)
	}
	nt := NewState()
	n := d.Count(1)
	for i := 0; i < n && d.Err() == nil; i++ {
		bd := &Binding{Name: d.StringMax(wire.MaxNameLen), PID: d.StringMax(wire.MaxPIDLen), Scope: Scope(d.Byte()),
			Meta: d.BytesMax(MaxMetaLen), Index: d.Uvarint()}
		bd.RegisteredAt = time.Unix(0, int64(d.Uvarint())).UTC()
		if d.Err() != nil {
			break
		}
		if err := validateRegistration(bd.Name, bd.PID, bd.Meta); err != nil {
			return fmt.Errorf("naming: snapshot binding %d: %w", i, err)
		}
		if bd.Scope != ScopeConsistent && bd.Scope != ScopeStrong {
			return fmt.Errorf("naming: snapshot binding %q: scope %s", bd.Name, bd.Scope)
		}
		if _, dup := nt.bindings[bd.Name]; dup {
			// A state binds a name once; a second would orphan the first's
			// index entry (found by FuzzTableUnmarshal).
			return fmt.Errorf("naming: snapshot binds %q twice", bd.Name)
		}
		nt.bind(bd)
	}
	n = d.Count(1)
	for i := 0; i < n && d.Err() == nil; i++ {
		r := &Reservation{Name: d.StringMax(wire.MaxNameLen), PID: d.StringMax(wire.MaxPIDLen), Meta: d.BytesMax(MaxMetaLen), Index: d.Uvarint()}
		r.Deadline = time.Unix(0, int64(d.Uvarint())).UTC()
		if d.Err() != nil {
			break
		}
		if err := validateRegistration(r.Name, r.PID, r.Meta); err != nil {
			return fmt.Errorf("naming: snapshot reservation %d: %w", i, err)
		}
		if _, dup := nt.reserved[r.Name]; dup {
			return fmt.Errorf("naming: snapshot reserves %q twice", r.Name)
		}
		nt.reserved[r.Name] = r
		nt.index(r.PID, r.Name)
	}
	if err := d.Done(); err != nil {
		return fmt.Errorf("naming: snapshot: %w", err)
	}
	*t = *nt
	return nil
}

// Nodes lists, sorted, the nodes whose sessions bind or reserve a name.
func (t *State) Nodes() []string {
	seen := map[string]struct{}{}
	for pid := range t.byPID {
		seen[wire.NodeOf(pid)] = struct{}{}
	}
	return sortedKeys(seen)
}

func notRegistered(name string) error {
	return wire.Refuse(wire.NotFound, ErrNotFound, "name %q is not registered", name)
}

func notOwner(name, owner, pid string) error {
	return wire.Refuse(CodeNotOwner, ErrNotOwner, "name %q is registered by %s, not %s", name, owner, pid)
}
