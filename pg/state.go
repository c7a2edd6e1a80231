package pg

import (
	"cmp"
	"slices"
)

// Version orders the announcements of one owner node. Incarnation changes
// when the owner restarts (a higher one is a newer run); Seq counts the
// owner's membership changes within an incarnation, from 0.
type Version struct {
	Incarnation uint64
	Seq         uint64
}

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool {
	if v.Incarnation != o.Incarnation {
		return v.Incarnation < o.Incarnation
	}
	return v.Seq < o.Seq
}

// Op is one membership change of the owner's: a join or a leave.
type Op struct {
	Leave bool
	Key   Key
	PID   string
}

// Delta is a run of consecutive changes of one owner node: applied to the
// owner's state at version (Incarnation, Base) it gives (Incarnation, Seq).
// Seq - Base == len(Ops), one op per change.
type Delta struct {
	Node        string
	Incarnation uint64
	Base, Seq   uint64
	Ops         []Op
}

// Empty reports whether d carries no change.
func (d Delta) Empty() bool { return len(d.Ops) == 0 }

// GroupMembers is one group's members on one node, sorted.
type GroupMembers struct {
	Key  Key
	PIDs []string
}

// Sync is the full membership of one owner node at one version.
type Sync struct {
	Node    string
	Version Version
	Groups  []GroupMembers // sorted by key
}

// Change is what a monitor sees: a PID joined or left a group.
type Change struct {
	Key    Key
	PID    string
	Joined bool
}

// DeltaResult says what ApplyDelta did.
type DeltaResult int

const (
	// DeltaApplied: the delta (or its part that was new) was applied.
	DeltaApplied DeltaResult = iota
	// DeltaStale: nothing new (a duplicate, or from an older incarnation).
	DeltaStale
	// DeltaGap: the delta does not follow what this node knows of the
	// owner; the owner must send a full sync.
	DeltaGap
)

// GroupInfo summarises one group with members somewhere.
type GroupInfo struct {
	Scope, Group string
	Members      int // on every node
	Local        int // on this node
}

type nodeState struct {
	ver    Version
	groups map[Key]map[string]struct{}
}

func newNodeState(v Version) *nodeState {
	return &nodeState{ver: v, groups: map[Key]map[string]struct{}{}}
}

func (n *nodeState) add(k Key, pid string) bool {
	g := n.groups[k]
	if g == nil {
		g = map[string]struct{}{}
		n.groups[k] = g
	}
	if _, ok := g[pid]; ok {
		return false
	}
	g[pid] = struct{}{}
	return true
}

func (n *nodeState) remove(k Key, pid string) bool {
	g := n.groups[k]
	if _, ok := g[pid]; !ok {
		return false
	}
	delete(g, pid)
	if len(g) == 0 {
		delete(n.groups, k)
	}
	return true
}

// State is the membership table of one node: its own memberships, which it
// changes with Join, Leave and LeaveAll, and every peer's as last announced,
// changed by ApplySync, ApplyDelta and DropNode. Joining is idempotent: a
// PID is a member of a group once or not at all.
//
// State is deterministic and not safe for concurrent use. Every result that
// lists several things is sorted, so map order never shows.
type State struct {
	local string
	nodes map[string]*nodeState
	// byPID indexes the local memberships for LeaveAll.
	byPID map[string]map[Key]struct{}
}

// NewState returns the table of node local, whose run is incarnation (a
// number that grows with every restart, such as the start time).
func NewState(local string, incarnation uint64) *State {
	s := &State{local: local, nodes: map[string]*nodeState{}, byPID: map[string]map[Key]struct{}{}}
	s.nodes[local] = newNodeState(Version{Incarnation: incarnation})
	return s
}

// Local is this node's name.
func (s *State) Local() string { return s.local }

// LocalVersion is the version of this node's own memberships.
func (s *State) LocalVersion() Version { return s.nodes[s.local].ver }

// Join makes pid (a local PID) a member of k. It returns the delta to
// announce and the change, both empty when pid already was a member.
func (s *State) Join(k Key, pid string) (Delta, []Change) {
	return s.localOps([]Op{{Key: k, PID: pid}})
}

// Leave ends pid's membership of k; both results are empty when it was not
// a member.
func (s *State) Leave(k Key, pid string) (Delta, []Change) {
	return s.localOps([]Op{{Leave: true, Key: k, PID: pid}})
}

// LeaveAll ends every membership of pid, in key order.
func (s *State) LeaveAll(pid string) (Delta, []Change) {
	keys := make([]Key, 0, len(s.byPID[pid]))
	for k := range s.byPID[pid] {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	ops := make([]Op, len(keys))
	for i, k := range keys {
		ops[i] = Op{Leave: true, Key: k, PID: pid}
	}
	return s.localOps(ops)
}

// IsMember reports whether the local pid is a member of k.
func (s *State) IsMember(k Key, pid string) bool {
	_, ok := s.byPID[pid][k]
	return ok
}

// localOps applies ops that change something to the local node, one
// sequence number each, and returns them as a delta.
func (s *State) localOps(ops []Op) (Delta, []Change) {
	n := s.nodes[s.local]
	d := Delta{Node: s.local, Incarnation: n.ver.Incarnation, Base: n.ver.Seq}
	var changes []Change
	for _, op := range ops {
		if !s.applyLocal(n, op) {
			continue
		}
		d.Ops = append(d.Ops, op)
		changes = append(changes, Change{Key: op.Key, PID: op.PID, Joined: !op.Leave})
	}
	n.ver.Seq += uint64(len(d.Ops))
	d.Seq = n.ver.Seq
	return d, changes
}

func (s *State) applyLocal(n *nodeState, op Op) bool {
	if op.Leave {
		if !n.remove(op.Key, op.PID) {
			return false
		}
		delete(s.byPID[op.PID], op.Key)
		if len(s.byPID[op.PID]) == 0 {
			delete(s.byPID, op.PID)
		}
		return true
	}
	if !n.add(op.Key, op.PID) {
		return false
	}
	if s.byPID[op.PID] == nil {
		s.byPID[op.PID] = map[Key]struct{}{}
	}
	s.byPID[op.PID][op.Key] = struct{}{}
	return true
}

// ApplyDelta applies a peer's delta. A delta that repeats what is known
// (or comes from an older incarnation) is stale and changes nothing; one
// that overlaps applies only its new part; one that does not follow on is a
// gap. A delta that starts a newer incarnation at 0 replaces the old one.
// Deltas about this node itself are stale: only this node changes its own.
func (s *State) ApplyDelta(d Delta) (DeltaResult, []Change) {
	if d.Node == s.local {
		return DeltaStale, nil
	}
	if d.Seq < d.Base || uint64(len(d.Ops)) != d.Seq-d.Base {
		return DeltaGap, nil // inconsistent: only a full sync can help
	}
	n := s.nodes[d.Node]
	var changes []Change
	switch {
	case n == nil && d.Base == 0:
		n = newNodeState(Version{Incarnation: d.Incarnation})
		s.nodes[d.Node] = n
	case n == nil:
		return DeltaGap, nil
	case d.Incarnation < n.ver.Incarnation:
		return DeltaStale, nil
	case d.Incarnation > n.ver.Incarnation && d.Base == 0:
		// The owner restarted: its earlier members are gone.
		changes = s.dropNode(d.Node)
		n = newNodeState(Version{Incarnation: d.Incarnation})
		s.nodes[d.Node] = n
	case d.Incarnation > n.ver.Incarnation:
		return DeltaGap, nil
	case d.Seq <= n.ver.Seq:
		return DeltaStale, nil
	case d.Base > n.ver.Seq:
		return DeltaGap, nil
	}
	for _, op := range d.Ops[n.ver.Seq-d.Base:] {
		if op.Leave {
			if n.remove(op.Key, op.PID) {
				changes = append(changes, Change{Key: op.Key, PID: op.PID})
			}
		} else if n.add(op.Key, op.PID) {
			changes = append(changes, Change{Key: op.Key, PID: op.PID, Joined: true})
		}
	}
	n.ver.Seq = d.Seq
	return DeltaApplied, changes
}

// ApplySync replaces a peer's memberships with its full sync, unless the
// sync is older than what is known. It reports whether it applied, and
// the changes (leaves first, then joins, each in key and PID order).
func (s *State) ApplySync(sy Sync) (bool, []Change) {
	if sy.Node == s.local {
		return false, nil
	}
	old := s.nodes[sy.Node]
	if old != nil && sy.Version.Less(old.ver) {
		return false, nil
	}
	n := newNodeState(sy.Version)
	for _, g := range sy.Groups {
		for _, pid := range g.PIDs {
			n.add(g.Key, pid)
		}
	}
	s.nodes[sy.Node] = n
	if old == nil {
		old = newNodeState(Version{})
	}
	return true, diff(old, n)
}

// diff lists what changes from a to b: leaves, then joins.
func diff(a, b *nodeState) []Change {
	var leaves, joins []Change
	for k, g := range a.groups {
		for pid := range g {
			if _, ok := b.groups[k][pid]; !ok {
				leaves = append(leaves, Change{Key: k, PID: pid})
			}
		}
	}
	for k, g := range b.groups {
		for pid := range g {
			if _, ok := a.groups[k][pid]; !ok {
				joins = append(joins, Change{Key: k, PID: pid, Joined: true})
			}
		}
	}
	slices.SortFunc(leaves, compareChanges)
	slices.SortFunc(joins, compareChanges)
	return append(leaves, joins...)
}

// DropNode forgets a peer and its members (it left or failed). Dropping
// this node itself does nothing.
func (s *State) DropNode(node string) []Change {
	if node == s.local {
		return nil
	}
	return s.dropNode(node)
}

func (s *State) dropNode(node string) []Change {
	n := s.nodes[node]
	if n == nil {
		return nil
	}
	delete(s.nodes, node)
	return diff(n, newNodeState(Version{}))
}

// Nodes lists the nodes the table knows, this one included, sorted.
func (s *State) Nodes() []string {
	out := make([]string, 0, len(s.nodes))
	for name := range s.nodes {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Version returns what the table knows of node's version.
func (s *State) Version(node string) (Version, bool) {
	n, ok := s.nodes[node]
	if !ok {
		return Version{}, false
	}
	return n.ver, true
}

// LocalSync is this node's full membership, for a peer.
func (s *State) LocalSync() Sync {
	n := s.nodes[s.local]
	sy := Sync{Node: s.local, Version: n.ver, Groups: make([]GroupMembers, 0, len(n.groups))}
	for k, g := range n.groups {
		sy.Groups = append(sy.Groups, GroupMembers{Key: k, PIDs: sortedSet(g)})
	}
	slices.SortFunc(sy.Groups, func(a, b GroupMembers) int { return compareKeys(a.Key, b.Key) })
	return sy
}

// Members lists k's members on every node, sorted.
func (s *State) Members(k Key) []string {
	var out []string
	for _, n := range s.nodes {
		for pid := range n.groups[k] {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// LocalMembers lists k's members on this node, sorted.
func (s *State) LocalMembers(k Key) []string {
	return sortedSet(s.nodes[s.local].groups[k])
}

// RemoteHosts lists the peers with members of k, sorted, with how many.
func (s *State) RemoteHosts(k Key) []Host {
	var out []Host
	for name, n := range s.nodes {
		if name == s.local {
			continue
		}
		if c := len(n.groups[k]); c > 0 {
			out = append(out, Host{Node: name, Members: c})
		}
	}
	slices.SortFunc(out, func(a, b Host) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// Host is a node with members of a group.
type Host struct {
	Node    string
	Members int
}

// Groups lists the groups of scope that have members anywhere, by name;
// every scope when scope is "".
func (s *State) Groups(scope string) []GroupInfo {
	idx := map[Key]*GroupInfo{}
	for name, n := range s.nodes {
		for k, g := range n.groups {
			if scope != "" && k.Scope != scope {
				continue
			}
			gi := idx[k]
			if gi == nil {
				gi = &GroupInfo{Scope: k.Scope, Group: k.Group}
				idx[k] = gi
			}
			gi.Members += len(g)
			if name == s.local {
				gi.Local += len(g)
			}
		}
	}
	out := make([]GroupInfo, 0, len(idx))
	for _, gi := range idx {
		out = append(out, *gi)
	}
	slices.SortFunc(out, func(a, b GroupInfo) int {
		return compareKeys(Key{a.Scope, a.Group}, Key{b.Scope, b.Group})
	})
	return out
}

// Counts returns the number of groups with members anywhere, and the
// memberships on this node and on every node.
func (s *State) Counts() (groups, local, total int) {
	seen := map[Key]struct{}{}
	for name, n := range s.nodes {
		for k, g := range n.groups {
			seen[k] = struct{}{}
			total += len(g)
			if name == s.local {
				local += len(g)
			}
		}
	}
	return len(seen), local, total
}

func sortedSet(g map[string]struct{}) []string {
	out := make([]string, 0, len(g))
	for pid := range g {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

func compareKeys(a, b Key) int {
	if c := cmp.Compare(a.Scope, b.Scope); c != 0 {
		return c
	}
	return cmp.Compare(a.Group, b.Group)
}

func compareChanges(a, b Change) int {
	if c := compareKeys(a.Key, b.Key); c != 0 {
		return c
	}
	return cmp.Compare(a.PID, b.PID)
}
