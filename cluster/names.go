package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/gossip"
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
