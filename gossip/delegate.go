package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// StateDelegate carries replicated, eventually consistent state (eventual
// names) over memberlist's user-data paths: the gossip broadcast queue and
// the push/pull exchange. All methods are called from memberlist goroutines,
// concurrently with each other, and must not block; buffers passed in are
// memberlist's and must be copied if kept.
type StateDelegate interface {
	// NotifyMsg receives a user message gossiped by a peer.
	NotifyMsg(msg []byte)
	// GetBroadcasts returns queued messages to piggyback on gossip, each
	// costing overhead bytes, in total at most limit bytes.
	GetBroadcasts(overhead, limit int) [][]byte
	// LocalState is sent to a peer during push/pull; join is true on a join.
	LocalState(join bool) []byte
	// MergeRemoteState receives a peer's LocalState. It is not called for a
	// join refused by the cluster-ID guard.
	MergeRemoteState(buf []byte, join bool)
}

// delegates implements memberlist's delegate interfaces for a Membership.
// memberlist calls NodeMeta, NotifyAlive, NotifyConflict and the EventDelegate
// methods while holding its node lock, so none of them calls into memberlist.
type delegates struct {
	m *Membership
}

var (
	_ memberlist.Delegate         = delegates{}
	_ memberlist.EventDelegate    = delegates{}
	_ memberlist.AliveDelegate    = delegates{}
	_ memberlist.MergeDelegate    = delegates{}
	_ memberlist.ConflictDelegate = delegates{}
	_ memberlist.PingDelegate     = delegates{}
)

// NodeMeta implements memberlist.Delegate: our encoded meta, which
// UpdateMeta keeps within limit (MetaMaxSize).
func (d delegates) NodeMeta(limit int) []byte {
	d.m.metaMu.RLock()
	defer d.m.metaMu.RUnlock()
	if len(d.m.metaBytes) > limit {
		return nil // cannot happen: Encode enforces MetaMaxSize
	}
	return d.m.metaBytes
}

// NotifyMsg implements memberlist.Delegate.
func (d delegates) NotifyMsg(msg []byte) {
	if d.m.state != nil {
		d.m.state.NotifyMsg(msg)
	}
}

// GetBroadcasts implements memberlist.Delegate.
func (d delegates) GetBroadcasts(overhead, limit int) [][]byte {
	if d.m.state != nil {
		return d.m.state.GetBroadcasts(overhead, limit)
	}
	return nil
}

// LocalState implements memberlist.Delegate.
func (d delegates) LocalState(join bool) []byte {
	if d.m.state != nil {
		return d.m.state.LocalState(join)
	}
	return nil
}

// MergeRemoteState implements memberlist.Delegate.
func (d delegates) MergeRemoteState(buf []byte, join bool) {
	if d.m.state != nil {
		d.m.state.MergeRemoteState(buf, join)
	}
}

// decode turns a peer's raw meta into Meta, counting and logging (rate
// limited per peer) what fails to decode: malformed network input is dropped
// and counted, never fatal.
func (d delegates) decode(n *memberlist.Node) (Meta, bool) {
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		d.m.counters.malformedMeta.Add(1)
		if d.m.limiter.allow("meta/" + n.Name) {
			d.m.log.Warn().Err(err).Str("peer", n.Name).Str("addr", n.Address()).
				Int("bytes", len(n.Meta)).Msg("malformed peer meta")
		}
		return Meta{}, false
	}
	return meta, true
}

// NotifyJoin implements memberlist.EventDelegate.
func (d delegates) NotifyJoin(n *memberlist.Node) {
	meta, ok := d.decode(n)
	d.m.view.alive(n.Name, n.Address(), meta, ok, time.Now())
	d.m.log.Info().Str("peer", n.Name).Str("addr", n.Address()).Msg("member joined")
}

// NotifyUpdate implements memberlist.EventDelegate.
func (d delegates) NotifyUpdate(n *memberlist.Node) {
	meta, ok := d.decode(n)
	d.m.view.updated(n.Name, n.Address(), meta, ok, time.Now())
	d.m.log.Debug().Str("peer", n.Name).Msg("member updated")
}

// NotifyLeave implements memberlist.EventDelegate. memberlist v0.6.0 leaves
// n.State at StateAlive here (memberlist#293); the view falls back on the
// Leaving flag of the node's last meta.
func (d delegates) NotifyLeave(n *memberlist.Node) {
	st := d.m.view.gone(n.Name, n.Address(), n.State == memberlist.StateLeft, time.Now())
	if st == StateLeft {
		d.m.log.Info().Str("peer", n.Name).Str("addr", n.Address()).Msg("member left")
	} else {
		d.m.log.Warn().Str("peer", n.Name).Str("addr", n.Address()).Msg("member failed")
	}
}

// NotifyAlive implements memberlist.AliveDelegate: the cluster-ID guard for
// every alive message, which catches merges a MergeDelegate alone would miss
// (gossip relayed through a node that knows both sides).
func (d delegates) NotifyAlive(n *memberlist.Node) error {
	if err := d.m.guardPeer(n, true); err != nil {
		return err
	}
	// The inventory is checked per member, here only: a merge carries
	// other members whose alive messages come through here one by one,
	// so one stranger in a peer's view does not cancel a whole join.
	return d.m.guardInventory(n)
}

// NotifyMerge implements memberlist.MergeDelegate: the cluster-ID guard for a
// join's push/pull. One foreign node cancels the whole merge, so a join
// between two clusters fails on both sides.
func (d delegates) NotifyMerge(peers []*memberlist.Node) error {
	var first error
	for _, p := range peers {
		if err := d.m.guardPeer(p, false); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		d.m.counters.rejectedForeign.Add(1)
	}
	return first
}

// NotifyConflict implements memberlist.ConflictDelegate: two live nodes
// claiming one name is a configuration error (DESIGN §3).
func (d delegates) NotifyConflict(existing, other *memberlist.Node) {
	if existing.Name == d.m.cfg.Name {
		// Our own name at another address: what peers remember of us
		// from before a restart on a new address, not a second node.
		// Peers take the new address once the old one has been dead
		// for DeadNodeReclaimTime; Run announces it again until then.
		select {
		case d.m.staleSelf <- struct{}{}:
		default:
		}
		if d.m.limiter.allow("stale-self") {
			d.m.log.Info().Str("addr", existing.Address()).Str("old_addr", other.Address()).
				Msg("peers still know this node at its old address; announcing the new one")
		}
		return
	}
	d.m.counters.duplicateName.Add(1)
	if d.m.limiter.allow("dup/" + existing.Name) {
		d.m.log.Error().Str("peer", existing.Name).Str("addr", existing.Address()).
			Str("other_addr", other.Address()).Msg("two nodes claim one name")
	}
}

// AckPayload implements memberlist.PingDelegate; we attach nothing.
func (d delegates) AckPayload() []byte { return nil }

// NotifyPingComplete implements memberlist.PingDelegate: an acknowledged
// probe is the freshest proof that a member is alive.
func (d delegates) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	d.m.view.seen(other.Name, time.Now())
}
