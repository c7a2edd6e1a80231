package gossip

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// view is the membership as this node knows it, plus the event subscribers.
// One mutex covers both so subscribers see events in the order the view
// changed. The mutators are called from memberlist's delegates, often under
// memberlist's node lock; they only touch this struct and never block.
type view struct {
	mu          sync.Mutex
	members     map[string]*entry
	forgetAfter time.Duration
	counters    *counters

	subs    map[uint64]chan Event
	nextSub uint64
	closed  bool
}

type entry struct {
	Member
	goneAt time.Time // when it became dead or left; zero while alive
}

func newView(forgetAfter time.Duration, c *counters) *view {
	return &view{
		members:     make(map[string]*entry),
		forgetAfter: forgetAfter,
		counters:    c,
		subs:        make(map[uint64]chan Event),
	}
}

// alive records a node that joined (or came back) and emits NodeJoined.
func (v *view) alive(name, addr string, meta Meta, valid bool, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := &entry{Member: Member{Name: name, Addr: addr, State: StateAlive, Meta: meta, MetaValid: valid, LastSeen: now}}
	v.members[name] = e
	v.emitLocked(NodeJoined, e.Member)
}

// updated records new meta for a live node and emits NodeUpdated.
func (v *view) updated(name, addr string, meta Meta, valid bool, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	if !ok {
		e = &entry{}
		v.members[name] = e
	}
	e.Member = Member{Name: name, Addr: addr, State: StateAlive, Meta: meta, MetaValid: valid, LastSeen: now}
	e.goneAt = time.Time{}
	v.emitLocked(NodeUpdated, e.Member)
}

// gone records a node declared dead or departed and emits NodeFailed or
// NodeLeft. stateLeft is memberlist's own verdict when it provides one; a
// node whose last meta said Leaving left gracefully as well. It returns the
// state recorded.
func (v *view) gone(name, addr string, stateLeft bool, now time.Time) State {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	if !ok {
		e = &entry{Member: Member{Name: name, Addr: addr}}
		v.members[name] = e
	}
	kind := NodeFailed
	e.State = StateDead
	if stateLeft || (e.MetaValid && e.Meta.Leaving) {
		kind = NodeLeft
		e.State = StateLeft
	}
	e.goneAt = now
	v.emitLocked(kind, e.Member)
	return e.State
}

// seen refreshes LastSeen of a live member (a probe was acknowledged).
func (v *view) seen(name string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.members[name]; ok && e.State == StateAlive {
		e.LastSeen = now
	}
}

// pruneLocked drops members gone longer than forgetAfter. Pruning on read
// keeps the view bounded without a goroutine of its own.
func (v *view) pruneLocked(now time.Time) {
	for name, e := range v.members {
		if !e.goneAt.IsZero() && now.Sub(e.goneAt) > v.forgetAfter {
			delete(v.members, name)
		}
	}
}

func (v *view) list(now time.Time) []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(now)
	out := make([]Member, 0, len(v.members))
	for _, e := range v.members {
		out = append(out, e.Member)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (v *view) get(name string, now time.Time) (Member, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(now)
	e, ok := v.members[name]
	if !ok {
		return Member{}, false
	}
	return e.Member, true
}

func (v *view) numAlive() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, e := range v.members {
		if e.State == StateAlive {
			n++
		}
	}
	return n
}

// emitLocked sends without blocking: a full subscriber loses the event and
// the drop is counted (DESIGN rule 13; subscribers reconcile periodically).
func (v *view) emitLocked(kind EventKind, m Member) {
	if v.closed {
		return
	}
	ev := Event{Kind: kind, Member: m}
	for _, ch := range v.subs {
		select {
		case ch <- ev:
		default:
			v.counters.droppedEvents.Add(1)
		}
	}
}

func (v *view) subscribe(buffer int) (<-chan Event, func()) {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan Event, buffer)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		close(ch)
		return ch, func() {}
	}
	id := v.nextSub
	v.nextSub++
	v.subs[id] = ch
	return ch, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if c, ok := v.subs[id]; ok {
			delete(v.subs, id)
			close(c)
		}
	}
}

// close ends every subscription (their channels close) and stops events.
func (v *view) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	for id, ch := range v.subs {
		delete(v.subs, id)
		close(ch)
	}
}
