package registry

import (
	"slices"

	"github.com/conclave-dev/conclave/internal/wire"
)

// State is the registry's deterministic state: the instances by service
// and ID, and the indexes that blocking queries compare. It reads no
// clock (commands carry their proposer's time), walks keys in sorted
// order, and never lets map order reach a result or an encoding. It is
// not safe for concurrent use (Table guards it).
//
// Stored instances are immutable: a change stores a new *Instance, so a
// snapshot or a reader may keep the pointers it took.
type State struct {
	services map[string]*serviceEntry
	// lastChange is the index of the last entry that changed any answer;
	// lastRemoved the index of the last entry that removed a service's
	// last instance (the index of a query of a service that has none).
	lastChange, lastRemoved uint64
}

type serviceEntry struct {
	// index is the index of the last entry that changed the service's
	// instances (added, removed, health, endpoint...).
	index uint64
	byID  map[string]*Instance
}

// NewState returns an empty state.
func NewState() *State { return &State{services: map[string]*serviceEntry{}} }

// Register applies c as the entry at index: a new instance, or the
// replacement of the one c's PID already owns (keeping its CreateIndex,
// RegisteredAt, health and last_seen). An instance owned by another PID
// is refused with ErrTaken naming the owner.
func (s *State) Register(index uint64, c Register) (Instance, error) {
	r := c.Reg
	e := s.services[r.Service]
	var old *Instance
	if e != nil {
		old = e.byID[r.ID]
	}
	if old != nil && old.PID != c.PID {
		return Instance{}, taken(r.Service, r.ID, old.PID)
	}
	in := &Instance{Service: r.Service, ID: r.ID, Endpoint: r.Endpoint, Protocol: r.Protocol, Type: r.Type,
		Tags: r.Tags, Groups: r.Groups, Meta: r.Meta, Checks: r.Checks,
		PID: c.PID, Node: wire.NodeOf(c.PID), Health: initialHealth(r.Checks),
		RegisteredAt: c.Now, LastSeen: c.Now, CreateIndex: index, ModifyIndex: index}
	if old != nil {
		in.CreateIndex, in.RegisteredAt, in.LastSeen = old.CreateIndex, old.RegisteredAt, old.LastSeen
		if slices.Equal(old.Checks, in.Checks) {
			in.Health, in.Output = old.Health, old.Output
		}
		if sameInstance(old, in) {
			return old.clone(), nil // a replay: nothing changes, no index moves
		}
	}
	if e == nil {
		e = &serviceEntry{byID: map[string]*Instance{}}
		s.services[r.Service] = e
	}
	e.byID[r.ID] = in
	s.touch(e, index)
	return in.clone(), nil
}

// initialHealth is a new instance's health: passing without checks,
// critical with some until they pass (Consul's model: discovery serves
// an instance only once its checks say it is up).
func initialHealth(checks []Check) Health {
	if len(checks) == 0 {
		return Passing
	}
	return Critical
}

func sameInstance(a, b *Instance) bool {
	if a.Endpoint != b.Endpoint || a.Protocol != b.Protocol || a.Type != b.Type || a.Health != b.Health || a.Output != b.Output ||
		!slices.Equal(a.Tags, b.Tags) || !slices.Equal(a.Groups, b.Groups) || !slices.Equal(a.Checks, b.Checks) || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, v := range a.Meta {
		if w, ok := b.Meta[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Deregister removes an instance: pid's only, or whoever owns it when
// pid is empty.
func (s *State) Deregister(index uint64, service, id, pid string) error {
	e := s.services[service]
	if e == nil || e.byID[id] == nil {
		return notFound(service, id)
	}
	if owner := e.byID[id].PID; pid != "" && owner != pid {
		return taken(service, id, owner)
	}
	s.remove(index, service, e, id)
	return nil
}

// SetHealth records a health transition of c.PID's instance. An instance
// gone, or owned by another PID (re-registered since the check ran), is
// refused: the agent's result is about an instance that is no more.
func (s *State) SetHealth(index uint64, c SetHealth) error {
	e := s.services[c.Service]
	if e == nil || e.byID[c.ID] == nil {
		return notFound(c.Service, c.ID)
	}
	old := e.byID[c.ID]
	if old.PID != c.PID {
		return taken(c.Service, c.ID, old.PID)
	}
	in := *old
	if c.LastSeen.After(in.LastSeen) {
		in.LastSeen = c.LastSeen
	}
	if in.Health == c.Health && in.Output == c.Output {
		e.byID[c.ID] = &in // last_seen only: no index moves
		return nil
	}
	in.Health, in.Output, in.ModifyIndex = c.Health, c.Output, index
	e.byID[c.ID] = &in
	s.touch(e, index)
	return nil
}

// SeeBatch records the last_seen times of a batch. It moves no index
// (see Instance.LastSeen).
func (s *State) SeeBatch(c LastSeen) {
	for _, it := range c.Items {
		e := s.services[it.Service]
		if e == nil {
			continue
		}
		old := e.byID[it.ID]
		if old == nil || old.PID != it.PID || !it.At.After(old.LastSeen) {
			continue
		}
		in := *old
		in.LastSeen = it.At
		e.byID[it.ID] = &in
	}
}

// ReleaseSession removes the instances pid owns; it returns how many.
func (s *State) ReleaseSession(index uint64, pid string) int {
	return s.removeWhere(index, func(in *Instance) bool { return in.PID == pid })
}

// ReleaseNode removes the instances of every session of node.
func (s *State) ReleaseNode(index uint64, node string) int {
	return s.removeWhere(index, func(in *Instance) bool { return in.Node == node })
}

func (s *State) removeWhere(index uint64, match func(*Instance) bool) int {
	n := 0
	for _, name := range s.serviceNames() {
		e := s.services[name]
		for _, id := range sortedIDs(e) {
			if match(e.byID[id]) {
				s.remove(index, name, e, id)
				n++
			}
		}
	}
	return n
}

func (s *State) remove(index uint64, service string, e *serviceEntry, id string) {
	delete(e.byID, id)
	s.touch(e, index)
	if len(e.byID) == 0 {
		delete(s.services, service)
		s.lastRemoved = index
	}
}

func (s *State) touch(e *serviceEntry, index uint64) {
	e.index = index
	s.lastChange = index
}

// Index is the index of f's answer: the last change of f.Service's
// instances (or, for a service without instances, the last removal of a
// service's last instance), or for a filter of every service the last
// change of the table. It is monotonic and moves whenever the answer
// does; it may move when the answer does not.
func (s *State) Index(f Filter) uint64 {
	if f.Service == "" {
		return s.lastChange
	}
	if e := s.services[f.Service]; e != nil {
		return e.index
	}
	return s.lastRemoved
}

// List returns the instances f selects, sorted by service then ID. The
// pointers are the state's: immutable, not to be changed.
func (s *State) List(f Filter) []*Instance {
	var names []string
	if f.Service != "" {
		if s.services[f.Service] != nil {
			names = []string{f.Service}
		}
	} else {
		names = s.serviceNames()
	}
	var out []*Instance
	for _, name := range names {
		e := s.services[name]
		for _, id := range sortedIDs(e) {
			if in := e.byID[id]; f.match(in) {
				out = append(out, in)
			}
		}
	}
	return out
}

func (f Filter) match(in *Instance) bool {
	return (f.Service == "" || in.Service == f.Service) &&
		(f.Tag == "" || slices.Contains(in.Tags, f.Tag)) &&
		(f.Group == "" || slices.Contains(in.Groups, f.Group)) &&
		(!f.PassingOnly || in.Health == Passing)
}

// Services summarizes every service, sorted by name.
func (s *State) Services() []ServiceSummary {
	var out []ServiceSummary
	for _, name := range s.serviceNames() {
		sum := ServiceSummary{Name: name}
		for _, in := range s.services[name].byID {
			switch in.Health {
			case Passing:
				sum.Passing++
			case Warning:
				sum.Warning++
			default:
				sum.Critical++
			}
			sum.Tags = append(sum.Tags, in.Tags...)
		}
		sum.Tags = sortedSet(sum.Tags)
		out = append(out, sum)
	}
	return out
}

// Len is the number of instances.
func (s *State) Len() int {
	n := 0
	for _, e := range s.services {
		n += len(e.byID)
	}
	return n
}

// OfNode returns the instances of node's sessions, in no order. The
// pointers are the state's: immutable, not to be changed.
func (s *State) OfNode(node string) []*Instance {
	var out []*Instance
	for _, e := range s.services {
		for _, in := range e.byID {
			if in.Node == node {
				out = append(out, in)
			}
		}
	}
	return out
}

// Nodes lists, sorted, the nodes whose sessions own an instance: the nodes
// a release-node entry would change.
func (s *State) Nodes() []string {
	seen := map[string]bool{}
	for _, e := range s.services {
		for _, in := range e.byID {
			seen[in.Node] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// PIDs lists, sorted, the PIDs of node's sessions that own an instance.
func (s *State) PIDs(node string) []string {
	var out []string
	for _, e := range s.services {
		for _, in := range e.byID {
			if in.Node == node {
				out = append(out, in.PID)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *State) serviceNames() []string {
	names := make([]string, 0, len(s.services))
	for n := range s.services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func sortedIDs(e *serviceEntry) []string {
	ids := make([]string, 0, len(e.byID))
	for id := range e.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// view is an immutable copy of the state's structure (the instances are
// shared: they never change), for a snapshot written while Apply goes on.
type view struct {
	lastChange, lastRemoved uint64
	services                []serviceView
}

type serviceView struct {
	name      string
	index     uint64
	instances []*Instance
}

func (s *State) view() view {
	v := view{lastChange: s.lastChange, lastRemoved: s.lastRemoved}
	for _, name := range s.serviceNames() {
		e := s.services[name]
		sv := serviceView{name: name, index: e.index}
		for _, id := range sortedIDs(e) {
			sv.instances = append(sv.instances, e.byID[id])
		}
		v.services = append(v.services, sv)
	}
	return v
}
