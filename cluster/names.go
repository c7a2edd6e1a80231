package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/naming"
)

// Name errors beyond the shared ones. api maps them to gRPC codes.
var (
	// ErrNameTaken: the name is registered (or reserved) by another
	// session; the message names the owner. gRPC AlreadyExists.
	ErrNameTaken = errors.New("cluster: name taken")
	// ErrNotOwner: unregister by a session that does not own the name.
	// gRPC FailedPrecondition.
	ErrNotOwner = errors.New("cluster: not the owner")
	// ErrNameExpired: a strong registration did not gather every live
	// node's acknowledgement before its deadline; the message lists the
	// nodes that did not answer. gRPC DeadlineExceeded.
	ErrNameExpired = errors.New("cluster: strong registration expired")
)

// NameConflict is the error of a refused registration: it wraps
// ErrNameTaken and says who owns the name.
type NameConflict struct {
	Name     string
	Owner    string
	Scope    naming.Scope
	Reserved bool
	// Node is set when a strong registration was refused by a node's
	// acknowledgement: the node that holds the conflicting binding.
	Node string
}

func (c *NameConflict) Error() string {
	what := "registered"
	if c.Reserved {
		what = "reserved"
	}
	msg := fmt.Sprintf("name %q is already %s by %s (scope %s)", c.Name, what, c.Owner, c.Scope)
	if c.Node != "" {
		msg += fmt.Sprintf(", reported by node %s", c.Node)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNameTaken) hold.
func (c *NameConflict) Unwrap() error { return ErrNameTaken }

// names is the node's part of the name service: the local and eventual
// scopes it owns, the gossip plumbing of the eventual scope, and the
// watchers. Consistent and strong names live in the FSM.
type names struct {
	node     string
	log      zerolog.Logger
	local    *naming.Local
	eventual *naming.Eventual
	bq       *gossip.Broadcasts
	ml       atomic.Pointer[gossip.Membership]
	watch    *nameHub
	// big carries deltas too large for a gossip packet to the sender
	// goroutine, which sends them over TCP (gossip.SendToAll).
	big chan []byte

	malformed   atomic.Uint64 // gossip messages dropped as malformed
	revocations atomic.Uint64
	lastCompact atomic.Int64
	// emit delivers an event to a session of this node, if it is open.
	emit func(pid string, ev SessionEvent)
}

// tombstoneTTL keeps an eventual tombstone long enough for every push/pull
// partner to have seen it (a push/pull every 30 s reaches everyone in a
// few rounds).
const tombstoneTTL = 10 * time.Minute

func newNames(node string, log zerolog.Logger, emit func(string, SessionEvent)) *names {
	p := &names{
		node: node, log: log.With().Str("component", "names").Logger(),
		local: naming.NewLocal(), watch: newNameHub(), big: make(chan []byte, 64), emit: emit,
	}
	p.eventual = naming.NewEventual(node, uint64(time.Now().UnixNano()), p.alive, tombstoneTTL)
	p.bq = gossip.NewBroadcasts(p.numNodes, 4)
	return p
}

func (p *names) alive(node string) bool {
	ml := p.ml.Load()
	if ml == nil {
		return false
	}
	m, ok := ml.Member(node)
	return ok && m.State == gossip.StateAlive
}

func (p *names) numNodes() int {
	if ml := p.ml.Load(); ml != nil {
		return ml.NumAlive()
	}
	return 1
}

// publish sends an eventual delta: piggybacked on gossip when it fits in
// a packet, over TCP to every member otherwise.
func (p *names) publish(delta []byte) {
	if delta == nil {
		return
	}
	if len(delta) <= gossip.MaxBroadcast {
		p.bq.Queue(delta)
		return
	}
	select {
	case p.big <- delta:
	default:
		// The sender is behind; push/pull repairs what is not sent.
		p.log.Warn().Int("bytes", len(delta)).Msg("large eventual-name delta not sent now; push/pull will carry it")
	}
}

// sendLoop sends large deltas until ctx ends.
func (p *names) sendLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-p.big:
			if ml := p.ml.Load(); ml != nil {
				ml.SendToAll(d)
			}
		}
	}
}

// merge applies a peer's eventual state or delta.
func (p *names) merge(msg []byte) {
	res, err := p.eventual.Merge(time.Now(), msg)
	if err != nil {
		if n := p.malformed.Add(1); n == 1 || n%100 == 0 {
			p.log.Warn().Err(err).Uint64("dropped", n).Msg("malformed eventual-name message dropped")
		}
		return
	}
	for _, out := range res.Outgoing {
		p.publish(out)
	}
	p.watch.publish(res.Events)
	for _, r := range res.Revocations {
		p.revocations.Add(1)
		p.log.Info().Str("name", r.Name).Str("pid", r.PID).Str("winner", r.Winner).Msg("eventual name revoked")
		p.emit(r.PID, SessionEvent{Kind: EventNameRevoked, Name: r.Name, Owner: r.Winner,
			Detail: "name revoked: " + r.Winner})
	}
}

// sessionEnded drops the local and eventual names of an ended session.
func (p *names) sessionEnded(pid string) {
	p.watch.publish(p.local.ReleaseSession(pid))
	evs, delta := p.eventual.ReleaseSession(time.Now(), pid)
	p.publish(delta)
	p.watch.publish(evs)
}

// nodeGone drops the eventual names of a node gone from gossip.
func (p *names) nodeGone(node string) { p.watch.publish(p.eventual.DropNode(node)) }

// compact forgets old tombstones, at most once a minute.
func (p *names) compact(now time.Time) {
	last := p.lastCompact.Load()
	if now.UnixNano()-last < int64(time.Minute) || !p.lastCompact.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	p.eventual.Compact(now)
}

// namesDelegate plugs the eventual scope into gossip.
type namesDelegate struct{ p *names }

func (d namesDelegate) NotifyMsg(msg []byte) { d.p.merge(msg) }
func (d namesDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.p.bq.Get(overhead, limit)
}
func (d namesDelegate) LocalState(bool) []byte              { return d.p.eventual.State() }
func (d namesDelegate) MergeRemoteState(buf []byte, _ bool) { d.p.merge(buf) }

var _ gossip.StateDelegate = namesDelegate{}

// nameErr maps naming's errors onto the cluster's.
func nameErr(err error) error {
	var c *naming.Conflict
	switch {
	case err == nil:
		return nil
	case errors.As(err, &c):
		return &NameConflict{Name: c.Name, Owner: c.Owner, Scope: c.Scope, Reserved: c.Reserved}
	case errors.Is(err, naming.ErrInvalid):
		return fmt.Errorf("%w: %s", ErrInvalidArgument, strings.TrimPrefix(err.Error(), naming.ErrInvalid.Error()+": "))
	case errors.Is(err, naming.ErrNotFound):
		return reason{msg: strings.TrimPrefix(err.Error(), naming.ErrNotFound.Error()+": "), err: ErrNotFound}
	case errors.Is(err, naming.ErrNotOwner):
		return reason{msg: strings.TrimPrefix(err.Error(), naming.ErrNotOwner.Error()+": "), err: ErrNotOwner}
	case errors.Is(err, naming.ErrExpired):
		return reason{msg: strings.TrimPrefix(err.Error(), naming.ErrExpired.Error()+": "), err: ErrNameExpired}
	}
	return err
}

func validateRegister(name string, scope naming.Scope, meta []byte) error {
	if err := naming.ValidateName(name); err != nil {
		return nameErr(err)
	}
	if !scope.Valid() {
		return fmt.Errorf("%w: scope: must be one of local, eventual, consistent, strong", ErrInvalidArgument)
	}
	return nameErr(naming.ValidateMeta(meta))
}

// NameRegister binds name to the session pid open on this node, in scope,
// with optional metadata (at most 4 KiB). A name held by another session
// fails with a *NameConflict (ErrNameTaken) naming the owner; registering
// again from the same session is idempotent. Consistent and strong
// registrations need a Raft quorum; strong ones also every live node's
// acknowledgement within cluster.names.strong_deadline.
func (n *Node) NameRegister(ctx context.Context, pid, name string, scope naming.Scope, meta []byte) (naming.Binding, error) {
	if err := validateRegister(name, scope, meta); err != nil {
		return naming.Binding{}, err
	}
	if _, ok := n.sessions.get(pid); !ok {
		return naming.Binding{}, fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, n.Name())
	}
	switch scope {
	case naming.ScopeLocal:
		b, evs, err := n.names.local.Register(time.Now(), name, pid, meta)
		n.names.watch.publish(evs)
		return b, nameErr(err)
	case naming.ScopeEventual:
		b, evs, delta, err := n.names.eventual.Register(time.Now(), name, pid, meta)
		n.names.publish(delta)
		n.names.watch.publish(evs)
		return b, nameErr(err)
	case naming.ScopeConsistent:
		c := nameCmd(nmRegister)
		c.string(name)
		c.string(pid)
		c.bytes(meta)
		c.uvarint(nowNanos())
		resp, err := n.nameApply(ctx, c.b)
		if err != nil {
			return naming.Binding{}, err
		}
		d := &dec{b: resp}
		b := decodeBinding(d)
		return b, d.done()
	}
	return n.registerStrong(ctx, pid, name, meta)
}

func nameCmd(op byte) *enc { return &enc{b: []byte{cmdVersion, tableNames, op}} }

// nameApply proposes a name command and turns a refusal into its error.
func (n *Node) nameApply(ctx context.Context, cmd []byte) ([]byte, error) {
	resp, err := n.core.Apply(ctx, cmd)
	if err != nil {
		return nil, coreErr(err)
	}
	d := &dec{b: resp}
	switch st := d.byte(); st {
	case resOK:
		return d.b, nil
	case resTaken:
		_ = d.string()
		owner := d.string()
		scope := naming.Scope(d.byte())
		reserved := d.byte() == 1
		return nil, &NameConflict{Name: cmdName(cmd), Owner: owner, Scope: scope, Reserved: reserved}
	case resNotOwner:
		return nil, reason{msg: strings.TrimPrefix(d.string(), naming.ErrNotOwner.Error()+": "), err: ErrNotOwner}
	case resExpired:
		return nil, reason{msg: strings.TrimPrefix(d.string(), naming.ErrExpired.Error()+": "), err: ErrNameExpired}
	case resNotFound:
		return nil, reason{msg: strings.TrimPrefix(d.string(), naming.ErrNotFound.Error()+": "), err: ErrNotFound}
	default:
		return nil, resultErr(st, d)
	}
}

// cmdName reads the name back out of a name command (the first field).
func cmdName(cmd []byte) string {
	d := &dec{b: cmd[3:]}
	return d.string()
}

// registerStrong reserves name in Raft, gathers every live node's
// acknowledgement over internode, then activates the reservation. On a
// refusal or at the deadline the reservation is cancelled.
func (n *Node) registerStrong(ctx context.Context, pid, name string, meta []byte) (naming.Binding, error) {
	start := time.Now()
	deadline := start.Add(n.cfg.Cluster.Names.StrongDeadline.Duration())
	// The nodes to ask are those alive when the registration starts.
	peers := n.livePeers()
	// This node is asked first, without a round trip.
	if c := n.nameConflictHere(name, pid); c != nil {
		return naming.Binding{}, c
	}
	r := nameCmd(nmReserve)
	r.string(name)
	r.string(pid)
	r.bytes(meta)
	r.uvarint(uint64(deadline.UnixNano()))
	r.uvarint(uint64(start.UnixNano()))
	resp, err := n.nameApply(ctx, r.b)
	if err != nil {
		return naming.Binding{}, err
	}
	d := &dec{b: resp}
	if d.byte() == 1 { // already bound to this session
		b := decodeBinding(d)
		return b, d.done()
	}
	missing, conflict := n.gatherAcks(ctx, peers, deadline, name, pid)
	if conflict != nil || len(missing) > 0 {
		n.cancelReservation(name, pid)
		if conflict != nil {
			return naming.Binding{}, conflict
		}
		if ctx.Err() != nil && time.Now().Before(deadline) {
			return naming.Binding{}, fmt.Errorf("strong registration of %q: %w", name, ctx.Err())
		}
		return naming.Binding{}, reason{err: ErrNameExpired, msg: fmt.Sprintf(
			"strong registration of %q expired after %s: no acknowledgement from %s",
			name, n.cfg.Cluster.Names.StrongDeadline.Duration(), strings.Join(missing, ", "))}
	}
	a := nameCmd(nmActivate)
	a.string(name)
	a.string(pid)
	a.uvarint(nowNanos())
	resp, err = n.nameApply(ctx, a.b)
	if err != nil {
		return naming.Binding{}, err
	}
	d = &dec{b: resp}
	b := decodeBinding(d)
	return b, d.done()
}

// cancelReservation drops a reservation in the background-safe way: it
// uses its own short context, since the caller's may be done. A failed
// cancel is harmless: the reservation expires at its deadline anyway.
func (n *Node) cancelReservation(name, pid string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.core.ApplyTimeout())
	defer cancel()
	c := nameCmd(nmCancel)
	c.string(name)
	c.string(pid)
	if _, err := n.nameApply(ctx, c.b); err != nil {
		n.log.Debug().Err(err).Str("name", name).Msg("cancel of a strong reservation failed; it expires at its deadline")
	}
}

// Acks: request [1] name pid; reply [0] ok, or [1] owner scope (a
// conflicting binding on the answering node).
const (
	ackVersion  = 1
	ackOK       = 0
	ackConflict = 1
)

// gatherAcks asks every other live node whether it holds a conflicting
// binding of name. It returns the nodes that did not answer by deadline,
// or the first conflict reported.
func (n *Node) gatherAcks(ctx context.Context, peers []gossip.Member, deadline time.Time, name, pid string) ([]string, *NameConflict) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req := &enc{b: []byte{ackVersion}}
	req.string(name)
	req.string(pid)
	type answer struct {
		node     string
		conflict *NameConflict
		err      error
	}
	answers := make(chan answer, len(peers))
	for _, m := range peers {
		go func(m gossip.Member) {
			a := answer{node: m.Name}
			for {
				resp, err := n.mesh.Request(ctx, m.Meta.InternodeAddr, internode.ClassAck, req.b)
				if err == nil {
					a.conflict, a.err = decodeAck(resp, name, m.Name)
					break
				}
				a.err = err
				// A refused dial or a dropped link may heal before the
				// deadline: ask again, briefly spaced.
				select {
				case <-ctx.Done():
					answers <- a
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			answers <- a
		}(m)
	}
	answered := map[string]bool{}
	var conflict *NameConflict
	for range peers {
		a := <-answers
		if a.err == nil {
			answered[a.node] = true
			if a.conflict != nil && conflict == nil {
				conflict = a.conflict
				cancel() // no need to wait for the rest
			}
		}
	}
	if conflict != nil {
		return nil, conflict
	}
	var missing []string
	for _, m := range peers {
		if !answered[m.Name] {
			missing = append(missing, m.Name)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

func decodeAck(resp []byte, name, node string) (*NameConflict, error) {
	d := &dec{b: resp}
	switch d.byte() {
	case ackOK:
		return nil, d.done()
	case ackConflict:
		c := &NameConflict{Name: name, Owner: d.string(), Scope: naming.Scope(d.byte()), Node: node}
		return c, d.done()
	}
	return nil, errShort
}

// handleNameAck answers a peer's strong reservation: a conflict if this
// node holds a binding of the name for another session in any scope.
func (n *Node) handleNameAck(_ context.Context, req []byte) ([]byte, error) {
	d := &dec{b: req}
	ver := d.byte()
	name, pid := d.string(), d.string()
	if d.done() != nil || ver != ackVersion {
		n.names.malformed.Add(1)
		return nil, fmt.Errorf("%w: malformed name ack request", ErrInvalidArgument)
	}
	if c := n.nameConflictHere(name, pid); c != nil {
		r := &enc{b: []byte{ackConflict}}
		r.string(c.Owner)
		r.byte(byte(c.Scope))
		return r.b, nil
	}
	return []byte{ackOK}, nil
}

// livePeers are the other nodes alive in this node's gossip view.
func (n *Node) livePeers() []gossip.Member {
	var peers []gossip.Member
	for _, m := range n.ml.Members() {
		if m.Name != n.Name() && m.State == gossip.StateAlive {
			peers = append(peers, m)
		}
	}
	return peers
}

// nameConflictHere reports a binding of name by another PID on this node,
// in any scope.
func (n *Node) nameConflictHere(name, pid string) *NameConflict {
	if b, ok := n.fsm.nameOwner(name); ok && b.PID != pid {
		return &NameConflict{Name: name, Owner: b.PID, Scope: b.Scope, Node: n.Name()}
	}
	if b, ok := n.names.eventual.Get(name); ok && b.PID != pid {
		return &NameConflict{Name: name, Owner: b.PID, Scope: b.Scope, Node: n.Name()}
	}
	if b, ok := n.names.local.Get(name); ok && b.PID != pid {
		return &NameConflict{Name: name, Owner: b.PID, Scope: b.Scope, Node: n.Name()}
	}
	return nil
}

// NameUnregister removes pid's binding of name, in whichever scope it
// holds it. Local and eventual names can only be unregistered on the node
// of the session; consistent and strong ones from any node.
func (n *Node) NameUnregister(ctx context.Context, pid, name string) error {
	if err := naming.ValidateName(name); err != nil {
		return nameErr(err)
	}
	if err := naming.ValidatePID(pid); err != nil {
		return nameErr(err)
	}
	if b, ok := n.names.local.Get(name); ok && b.PID == pid {
		evs, err := n.names.local.Unregister(name, pid)
		n.names.watch.publish(evs)
		return nameErr(err)
	}
	if b, ok := n.names.eventual.Get(name); ok && b.PID == pid && naming.NodeOf(pid) == n.Name() {
		evs, delta, err := n.names.eventual.Unregister(time.Now(), name, pid)
		n.names.publish(delta)
		n.names.watch.publish(evs)
		return nameErr(err)
	}
	c := nameCmd(nmUnregister)
	c.string(name)
	c.string(pid)
	_, err := n.nameApply(ctx, c.b)
	return err
}

// NameLookup resolves name: consistent and strong names first (read in
// mode), then eventual, then local, so a cluster-wide name shadows a local
// one. ErrNotFound when no scope binds it.
func (n *Node) NameLookup(ctx context.Context, name string, mode ReadMode) (naming.Binding, error) {
	if err := naming.ValidateName(name); err != nil {
		return naming.Binding{}, nameErr(err)
	}
	q := &enc{b: []byte{cmdVersion, tableNames, nmGet}}
	q.string(name)
	bs, err := n.nameQuery(ctx, mode, q.b)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return naming.Binding{}, err
	}
	if len(bs) == 1 {
		return bs[0], nil
	}
	if b, ok := n.names.eventual.Get(name); ok {
		return b, nil
	}
	if b, ok := n.names.local.Get(name); ok {
		return b, nil
	}
	return naming.Binding{}, reason{msg: fmt.Sprintf("name %q is not registered", name), err: ErrNotFound}
}

// NameList lists the bindings whose names start with prefix, in scope (0
// for every scope), sorted by name; a name bound in several scopes is
// listed once per scope, the one lookup resolves to first.
func (n *Node) NameList(ctx context.Context, prefix string, scope naming.Scope, mode ReadMode) ([]naming.Binding, error) {
	if len(prefix) > naming.MaxNameLen {
		return nil, fmt.Errorf("%w: prefix: longer than %d bytes", ErrInvalidArgument, naming.MaxNameLen)
	}
	if scope != naming.ScopeUnspecified && !scope.Valid() {
		return nil, fmt.Errorf("%w: scope: must be one of local, eventual, consistent, strong", ErrInvalidArgument)
	}
	var out []naming.Binding
	if scope == 0 || scope == naming.ScopeConsistent || scope == naming.ScopeStrong {
		q := &enc{b: []byte{cmdVersion, tableNames, nmList}}
		q.string(prefix)
		bs, err := n.nameQuery(ctx, mode, q.b)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			if scope == 0 || b.Scope == scope {
				out = append(out, b)
			}
		}
	}
	if scope == 0 || scope == naming.ScopeEventual {
		out = append(out, n.names.eventual.List(prefix)...)
	}
	if scope == 0 || scope == naming.ScopeLocal {
		out = append(out, n.names.local.List(prefix)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Scope > out[j].Scope
	})
	return out, nil
}

func (n *Node) nameQuery(ctx context.Context, mode ReadMode, q []byte) ([]naming.Binding, error) {
	resp, err := n.core.Query(ctx, raftMode(mode), q)
	if err != nil {
		return nil, coreErr(err)
	}
	d := &dec{b: resp}
	if st := d.byte(); st != resOK {
		return nil, resultErr(st, d)
	}
	bs, err := decodeBindings(d)
	if err != nil {
		return nil, fmt.Errorf("cluster: decode name query: %w", err)
	}
	return bs, nil
}

// NameCounts returns how many names this node sees in each scope: local
// and eventual as held here, consistent and strong in the local replica.
func (n *Node) NameCounts() map[naming.Scope]int {
	out := map[naming.Scope]int{naming.ScopeLocal: n.names.local.Len(), naming.ScopeEventual: n.names.eventual.Len()}
	n.fsm.mu.RLock()
	for _, b := range n.fsm.names.List("") {
		out[b.Scope]++
	}
	n.fsm.mu.RUnlock()
	return out
}

// NameEvent is a change seen by a name watch.
type NameEvent = naming.Event

// NameWatch streams the changes to the bindings under a prefix, as this
// node sees them (consistent and strong names as its replica applies
// them; a client node, which holds no replica, sees only eventual and
// local changes).
type NameWatch struct {
	hub    *nameHub
	prefix string
	ch     chan NameEvent
	lagged atomic.Bool
}

// Events delivers the changes; it is closed when the watch ends (Close, or
// the watcher fell behind: see Err).
func (w *NameWatch) Events() <-chan NameEvent { return w.ch }

// Err says why Events was closed: nil after Close, ErrUnavailable when
// the watcher fell more than its buffer behind.
func (w *NameWatch) Err() error {
	if w.lagged.Load() {
		return fmt.Errorf("%w: the name watch fell behind by more than %d events; watch again", ErrUnavailable, nameWatchBuffer)
	}
	return nil
}

// Close ends the watch.
func (w *NameWatch) Close() { w.hub.remove(w) }

const nameWatchBuffer = 1024

// NameWatch starts a watch of the names under prefix.
func (n *Node) NameWatch(prefix string) (*NameWatch, error) {
	if len(prefix) > naming.MaxNameLen {
		return nil, fmt.Errorf("%w: prefix: longer than %d bytes", ErrInvalidArgument, naming.MaxNameLen)
	}
	w := &NameWatch{hub: n.names.watch, prefix: prefix, ch: make(chan NameEvent, nameWatchBuffer)}
	n.names.watch.add(w)
	return w, nil
}

// nameHub fans name events out to watches. publish never blocks: a watch
// whose buffer is full is ended (it must re-list and watch again).
type nameHub struct {
	mu      sync.Mutex
	watches map[*NameWatch]struct{}
}

func newNameHub() *nameHub { return &nameHub{watches: map[*NameWatch]struct{}{}} }

func (h *nameHub) add(w *NameWatch) {
	h.mu.Lock()
	h.watches[w] = struct{}{}
	h.mu.Unlock()
}

func (h *nameHub) remove(w *NameWatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.watches[w]; ok {
		delete(h.watches, w)
		close(w.ch)
	}
}

func (h *nameHub) publish(evs []naming.Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		for _, ev := range evs {
			if !strings.HasPrefix(ev.Binding.Name, w.prefix) {
				continue
			}
			select {
			case w.ch <- ev:
			default:
				w.lagged.Store(true)
				delete(h.watches, w)
				close(w.ch)
			}
			if w.lagged.Load() {
				break
			}
		}
	}
}

// closeAll ends every watch (node stopping).
func (h *nameHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		delete(h.watches, w)
		close(w.ch)
	}
}
