package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/raftcore"
)

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
	r.String(name)
	r.String(pid)
	r.Bytes(meta)
	r.Uvarint(uint64(deadline.UnixNano()))
	r.Uvarint(uint64(start.UnixNano()))
	resp, err := n.nameApplyAgain(ctx, name, r.Data(), deadline)
	if err != nil {
		return naming.Binding{}, err
	}
	d := wire.NewDecoder(resp)
	if d.Byte() == 1 { // already bound to this session
		b := decodeBinding(d)
		return b, d.Done()
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
	a.String(name)
	a.String(pid)
	a.Uvarint(nowNanos())
	resp, err = n.nameApplyAgain(ctx, name, a.Data(), deadline)
	if err != nil {
		return naming.Binding{}, err
	}
	d = wire.NewDecoder(resp)
	b := decodeBinding(d)
	return b, d.Done()
}

// nameAgainPace spaces the proposals of nameApplyAgain.
const nameAgainPace = 50 * time.Millisecond

// nameApplyAgain proposes a name command that is idempotent for its PID
// (a register, reserve or activate: a replay by the same PID leaves the
// same binding and returns it) and proposes it again while an attempt's
// outcome is unknown (the leader was lost after accepting it, as in a
// leader's graceful stop), until ctx ends or until. Other writes are
// never proposed twice; these may be, since twice is the same as once.
func (n *Node) nameApplyAgain(ctx context.Context, name string, cmd []byte, until time.Time) ([]byte, error) {
	for {
		resp, err := n.nameApply(ctx, name, cmd)
		if err == nil || !errors.Is(err, raftcore.ErrOutcomeUnknown) || ctx.Err() != nil || !time.Now().Before(until) {
			return resp, err
		}
		n.log.Debug().Err(err).Str("name", name).Msg("name command of unknown outcome proposed again (idempotent)")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("name %q: %w; the registration may have been applied: %v", name, ctx.Err(), err)
		case <-time.After(nameAgainPace):
		}
	}
}

// cancelReservation drops a reservation in the background-safe way: it
// uses its own short context, since the caller's may be done. A failed
// cancel is harmless: the reservation expires at its deadline anyway.
func (n *Node) cancelReservation(name, pid string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.core.ApplyTimeout())
	defer cancel()
	c := nameCmd(nmCancel)
	c.String(name)
	c.String(pid)
	if _, err := n.nameApply(ctx, name, c.Data()); err != nil {
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
	req := wire.NewEncoder(ackVersion)
	req.String(name)
	req.String(pid)
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
				resp, err := n.mesh.Request(ctx, m.Meta.InternodeAddr, internode.ClassAck, req.Data())
				if err == nil {
					a.conflict, a.err = decodeAck(resp, name, m.Name)
					break
				}
				a.err = err
				if n.leftGossip(m.Name) {
					// It left gracefully: it closed its sessions and
					// released their names first, so it holds nothing
					// to conflict with (a leader's graceful stop).
					a.err = nil
					break
				}
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
	d := wire.NewDecoder(resp)
	switch d.Byte() {
	case ackOK:
		return nil, d.Done()
	case ackConflict:
		c := &NameConflict{Name: name, Owner: d.String(), Scope: naming.Scope(d.Byte()), Node: node}
		return c, d.Done()
	}
	return nil, wire.ErrMalformed
}

// handleNameAck answers a peer's strong reservation: a conflict if this
// node holds a binding of the name for another session in any scope.
func (n *Node) handleNameAck(_ context.Context, req []byte) ([]byte, error) {
	d := wire.NewDecoder(req)
	ver := d.Byte()
	name, pid := d.String(), d.String()
	if d.Done() != nil || ver != ackVersion {
		n.names.malformed.Add(1)
		return nil, fmt.Errorf("%w: malformed name ack request", ErrInvalidArgument)
	}
	if c := n.nameConflictHere(name, pid); c != nil {
		r := wire.NewEncoder(ackConflict)
		r.String(c.Owner)
		r.Byte(byte(c.Scope))
		return r.Data(), nil
	}
	return []byte{ackOK}, nil
}

// leftGossip reports whether node left the gossip membership gracefully
// (or is no longer known at all).
func (n *Node) leftGossip(node string) bool {
	for _, m := range n.ml.Members() {
		if m.Name == node {
			return m.State == gossip.StateLeft
		}
	}
	return true
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
	if b, ok := n.nameTable.owner(name); ok && b.PID != pid {
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
