package naming

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Local is the node-local scope: a map from name to binding, visible on
// this node only. Safe for concurrent use.
type Local struct {
	mu       sync.Mutex
	bindings map[string]Binding
	byPID    map[string]map[string]struct{}
}

// NewLocal returns an empty local scope.
func NewLocal() *Local {
	return &Local{bindings: map[string]Binding{}, byPID: map[string]map[string]struct{}{}}
}

// Register binds name to pid on this node; the same PID again is
// idempotent, another PID gets a Conflict.
func (l *Local) Register(now time.Time, name, pid string, meta []byte) (Binding, []Event, error) {
	if err := validateRegistration(name, pid, meta); err != nil {
		return Binding{}, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.bindings[name]; ok {
		if b.PID != pid {
			return Binding{}, nil, &Conflict{Name: name, Owner: b.PID, Scope: ScopeLocal}
		}
		return b, nil, nil
	}
	b := Binding{Name: name, PID: pid, Scope: ScopeLocal, Meta: meta, RegisteredAt: now}
	l.bindings[name] = b
	m := l.byPID[pid]
	if m == nil {
		m = map[string]struct{}{}
		l.byPID[pid] = m
	}
	m[name] = struct{}{}
	return b, []Event{{Kind: Bound, Binding: b}}, nil
}

// Unregister removes pid's binding of name.
func (l *Local) Unregister(name, pid string) ([]Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bindings[name]
	if !ok {
		return nil, notRegistered(name)
	}
	if b.PID != pid {
		return nil, notOwner(name, b.PID, pid)
	}
	return []Event{l.unbindLocked(b)}, nil
}

// ReleaseSession removes every binding of pid.
func (l *Local) ReleaseSession(pid string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var evs []Event
	for _, n := range sortedKeys(l.byPID[pid]) {
		evs = append(evs, l.unbindLocked(l.bindings[n]))
	}
	return evs
}

func (l *Local) unbindLocked(b Binding) Event {
	delete(l.bindings, b.Name)
	m := l.byPID[b.PID]
	delete(m, b.Name)
	if len(m) == 0 {
		delete(l.byPID, b.PID)
	}
	return Event{Kind: Unbound, Binding: b}
}

// Get returns the binding of name.
func (l *Local) Get(name string) (Binding, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bindings[name]
	return b, ok
}

// List returns the bindings whose names start with prefix, by name.
func (l *Local) List(prefix string) []Binding {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Binding
	for n, b := range l.bindings {
		if strings.HasPrefix(n, prefix) {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len is the number of local bindings.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bindings)
}
