package naming

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Eventual is the eventual scope: a state-based CRDT replicated by gossip.
//
// Every node owns the claims its own sessions make and is their only
// writer. A claim is keyed by (origin node, name) and versioned by the
// origin's incarnation (its start time) and a counter it bumps on every
// change; removing a claim writes a tombstone with a higher version. Peers
// merge claim by claim, keeping the higher (incarnation, version), so any
// two nodes that have seen the same claims hold the same state whatever
// the order of delivery. Claims of a node that is not alive in this node's
// gossip view are dropped and ignored until it is alive again; a newer
// incarnation of a node replaces all of its older claims.
//
// A name claimed by several origins resolves to the same winner everywhere:
// the earliest claim (origin clock), the lower PID on a tie. The origin of
// a losing claim tombstones it when it learns of the winner and tells the
// session once (Revocation).
//
// Safe for concurrent use.
type Eventual struct {
	self  string
	inc   uint64
	alive func(node string) bool
	// tombstoneTTL is how long a tombstone is kept so that a late copy of
	// the claim it deletes cannot resurrect it.
	tombstoneTTL time.Duration

	mu     sync.Mutex
	ver    uint64
	claims map[string]map[string]*claim // name -> origin node -> claim
	incs   map[string]uint64            // origin node -> newest incarnation seen
}

type claim struct {
	node      string
	name      string
	inc, ver  uint64
	pid       string
	meta      []byte
	claimedAt int64 // origin's clock, unix nanos
	deleted   bool
	deadSince time.Time // local clock: when the tombstone was learned
}

func (c *claim) newer(o *claim) bool {
	if c.inc != o.inc {
		return c.inc > o.inc
	}
	return c.ver > o.ver
}

// before orders live claims for the winner: earliest claim, then lower PID.
func (c *claim) before(o *claim) bool {
	if c.claimedAt != o.claimedAt {
		return c.claimedAt < o.claimedAt
	}
	return c.pid < o.pid
}

func (c *claim) binding() Binding {
	return Binding{Name: c.name, PID: c.pid, Scope: ScopeEventual, Meta: c.meta,
		RegisteredAt: time.Unix(0, c.claimedAt).UTC()}
}

// Revocation tells the owning node that one of its sessions lost a name.
type Revocation struct {
	Name   string
	PID    string // the loser, a session on this node
	Winner string
}

// NewEventual returns the eventual scope of node self, whose incarnation
// (a number larger than any previous run's, such as its start time in
// nanoseconds) is inc. alive reports whether a node is alive in the gossip
// view; it is called with the Eventual's lock held and must not call back.
func NewEventual(self string, inc uint64, alive func(node string) bool, tombstoneTTL time.Duration) *Eventual {
	return &Eventual{
		self: self, inc: inc, alive: alive, tombstoneTTL: tombstoneTTL,
		claims: map[string]map[string]*claim{}, incs: map[string]uint64{self: inc},
	}
}

// winnerLocked is the live claim that wins name, or nil.
func (e *Eventual) winnerLocked(name string) *claim {
	var w *claim
	for _, c := range e.claims[name] {
		if c.deleted {
			continue
		}
		if w == nil || c.before(w) {
			w = c
		}
	}
	return w
}

// Register claims name for pid, a session on this node, at now (this
// node's clock). It fails with a Conflict if another PID wins the name in
// this node's view; the same PID again is idempotent. It returns the delta
// to gossip (nil when nothing changed).
func (e *Eventual) Register(now time.Time, name, pid string, meta []byte) (Binding, []Event, []byte, error) {
	if err := validateRegistration(name, pid, meta); err != nil {
		return Binding{}, nil, nil, err
	}
	if wire.NodeOf(pid) != e.self {
		return Binding{}, nil, nil, wire.Invalidf("pid", "%s is not a session of node %s", pid, e.self)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if w := e.winnerLocked(name); w != nil {
		if w.pid != pid {
			return Binding{}, nil, nil, &Conflict{Name: name, Owner: w.pid, Scope: ScopeEventual}
		}
		return w.binding(), nil, nil, nil
	}
	e.ver++
	c := &claim{node: e.self, name: name, inc: e.inc, ver: e.ver, pid: pid, meta: meta, claimedAt: now.UnixNano()}
	e.putLocked(c)
	return c.binding(), []Event{{Kind: Bound, Binding: c.binding()}}, e.encodeLocked(msgDelta, []*claim{c}), nil
}

// Unregister tombstones pid's claim of name.
func (e *Eventual) Unregister(now time.Time, name, pid string) ([]Event, []byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.claims[name][e.self]
	if c == nil || c.deleted {
		return nil, nil, wire.Refuse(wire.NotFound, ErrNotFound, "name %q is not registered from this node", name)
	}
	if c.pid != pid {
		return nil, nil, notOwner(name, c.pid, pid)
	}
	evs, t := e.tombstoneLocked(now, c)
	return evs, e.encodeLocked(msgDelta, []*claim{t}), nil
}

// ReleaseSession tombstones every claim of pid.
func (e *Eventual) ReleaseSession(now time.Time, pid string) ([]Event, []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var (
		evs  []Event
		out  []*claim
		mine []*claim
	)
	for _, byNode := range e.claims {
		if c := byNode[e.self]; c != nil && !c.deleted && c.pid == pid {
			mine = append(mine, c)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].name < mine[j].name })
	for _, c := range mine {
		ev, t := e.tombstoneLocked(now, c)
		evs = append(evs, ev...)
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return evs, e.encodeLocked(msgDelta, out)
}

// tombstoneLocked replaces an own live claim by a tombstone and returns the
// events it causes and the tombstone.
func (e *Eventual) tombstoneLocked(now time.Time, c *claim) ([]Event, *claim) {
	before := e.winnerLocked(c.name)
	e.ver++
	t := &claim{node: e.self, name: c.name, inc: e.inc, ver: e.ver, claimedAt: c.claimedAt, deleted: true, deadSince: now}
	e.putLocked(t)
	return e.diffLocked(c.name, before), t
}

func (e *Eventual) putLocked(c *claim) {
	m := e.claims[c.name]
	if m == nil {
		m = map[string]*claim{}
		e.claims[c.name] = m
	}
	m[c.node] = c
}

// diffLocked turns a change of name's winner into watch events.
func (e *Eventual) diffLocked(name string, before *claim) []Event {
	after := e.winnerLocked(name)
	if before == after || (before != nil && after != nil && before.pid == after.pid && before.node == after.node &&
		before.claimedAt == after.claimedAt && string(before.meta) == string(after.meta)) {
		return nil
	}
	var evs []Event
	if before != nil {
		evs = append(evs, Event{Kind: Unbound, Binding: before.binding()})
	}
	if after != nil {
		evs = append(evs, Event{Kind: Bound, Binding: after.binding()})
	}
	return evs
}

// MergeResult is what applying a peer's message changed.
type MergeResult struct {
	// Events are the watch events.
	Events []Event
	// Revocations are this node's sessions' claims that lost.
	Revocations []Revocation
	// Outgoing are deltas to gossip: the tombstones of revoked claims, and
	// the claims of a delta that were news here, passed on (epidemic
	// broadcast: a node that learns something tells others, so a change
	// reaches every node in a few rounds even if its origin's own
	// transmissions missed some).
	Outgoing [][]byte
}

// Merge applies a message from a peer (a gossiped delta or a push/pull
// state). A malformed message changes nothing.
func (e *Eventual) Merge(now time.Time, msg []byte) (MergeResult, error) {
	kind, sections, err := decodeMessage(msg)
	if err != nil {
		return MergeResult{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	touched := map[string]*claim{} // name -> winner before the merge
	touch := func(name string) {
		if _, ok := touched[name]; !ok {
			touched[name] = e.winnerLocked(name)
		}
	}
	var fresh []*claim
	for _, s := range sections {
		if s.node == e.self || !e.alive(s.node) {
			continue // we are authoritative for our own; the dead are dropped
		}
		known := e.incs[s.node]
		if s.inc < known {
			continue
		}
		if s.inc > known {
			for name, byNode := range e.claims {
				if c := byNode[s.node]; c != nil && c.inc < s.inc {
					touch(name)
					delete(byNode, s.node)
				}
			}
			e.incs[s.node] = s.inc
		}
		for _, c := range s.claims {
			cur := e.claims[c.name][s.node]
			if cur != nil && !c.newer(cur) {
				continue
			}
			touch(c.name)
			if c.deleted {
				c.deadSince = now
			}
			e.putLocked(c)
			if kind == msgDelta {
				fresh = append(fresh, c)
			}
		}
	}
	var (
		evs  []Event
		revs []Revocation
		out  []*claim
	)
	names := make([]string, 0, len(touched))
	for n := range touched {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		before := touched[name]
		// An own claim that no longer wins is revoked, once: it is
		// tombstoned, so it cannot lose again.
		if mine := e.claims[name][e.self]; mine != nil && !mine.deleted {
			if w := e.winnerLocked(name); w != mine {
				revs = append(revs, Revocation{Name: name, PID: mine.pid, Winner: w.pid})
				e.ver++
				t := &claim{node: e.self, name: name, inc: e.inc, ver: e.ver, claimedAt: mine.claimedAt, deleted: true, deadSince: now}
				e.putLocked(t)
				out = append(out, t)
			}
		}
		evs = append(evs, e.diffLocked(name, before)...)
	}
	res := MergeResult{Events: evs, Revocations: revs}
	if len(fresh) > 0 {
		res.Outgoing = append(res.Outgoing, e.encodeLocked(msgDelta, fresh))
	}
	if len(out) > 0 {
		res.Outgoing = append(res.Outgoing, e.encodeLocked(msgDelta, out))
	}
	return res, nil
}

// DropNode forgets every claim of node (gone in gossip). Its claims are
// accepted again once it is alive and sends them.
func (e *Eventual) DropNode(node string) []Event {
	if node == e.self {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var evs []Event
	names := make([]string, 0)
	for name, byNode := range e.claims {
		if byNode[node] != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		before := e.winnerLocked(name)
		delete(e.claims[name], node)
		if len(e.claims[name]) == 0 {
			delete(e.claims, name)
		}
		evs = append(evs, e.diffLocked(name, before)...)
	}
	return evs
}

// Compact forgets tombstones older than the tombstone TTL.
func (e *Eventual) Compact(now time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for name, byNode := range e.claims {
		for node, c := range byNode {
			if c.deleted && now.Sub(c.deadSince) > e.tombstoneTTL {
				delete(byNode, node)
				n++
			}
		}
		if len(byNode) == 0 {
			delete(e.claims, name)
		}
	}
	return n
}

// Get returns the winning binding of name.
func (e *Eventual) Get(name string) (Binding, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w := e.winnerLocked(name); w != nil {
		return w.binding(), true
	}
	return Binding{}, false
}

// List returns the winning bindings whose names start with prefix, by name.
func (e *Eventual) List(prefix string) []Binding {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Binding
	for name := range e.claims {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if w := e.winnerLocked(name); w != nil {
			out = append(out, w.binding())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len is the number of names with a live claim.
func (e *Eventual) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for name := range e.claims {
		if e.winnerLocked(name) != nil {
			n++
		}
	}
	return n
}

// State is the full state for a push/pull exchange: every claim and
// tombstone this node knows, of every node alive in its view.
func (e *Eventual) State() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []*claim
	for _, byNode := range e.claims {
		for node, c := range byNode {
			if node == e.self || e.alive(node) {
				all = append(all, c)
			}
		}
	}
	return e.encodeLocked(msgState, all)
}
