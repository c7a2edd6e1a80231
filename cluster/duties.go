package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/naming"
)

// timings of the node's background duties; local timings for tests.
type dutyTimings struct {
	// interval of the duty loop: session reaping, lock ticks, node-gone
	// checks, contact checks.
	interval time.Duration
	// nodeGoneGrace: a node dead in gossip this long is declared gone and
	// the leader releases everything its sessions held.
	nodeGoneGrace time.Duration
	// atRiskAfter: without contact with the Raft core this long, sessions
	// holding locks are told their locks are at risk. Well below gossip's
	// failure detection plus nodeGoneGrace, so the warning comes first.
	atRiskAfter time.Duration
}

var (
	defaultDuties = dutyTimings{interval: 200 * time.Millisecond, nodeGoneGrace: 2 * time.Second, atRiskAfter: 2 * time.Second}
	localDuties   = dutyTimings{interval: 50 * time.Millisecond, nodeGoneGrace: 500 * time.Millisecond, atRiskAfter: 500 * time.Millisecond}
)

// releasePrevious frees what this node's previous incarnation held (its
// sessions died with it): one release-node entry before any session opens.
func (n *Node) releasePrevious(ctx context.Context) {
	for {
		rctx, cancel := context.WithTimeout(ctx, n.core.ApplyTimeout())
		err := n.releaseNode(rctx, n.Name())
		cancel()
		if err == nil {
			close(n.sessions.ready)
			n.log.Debug().Msg("previous sessions released; sessions open")
			return
		}
		n.log.Debug().Err(err).Msg("release of previous sessions pending")
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.duties.interval * 4):
		}
	}
}

// releaseLeftovers is releasePrevious for a node on a brand-new data dir,
// whose sessions open at once: it cannot propose release-node (that would
// free the new sessions too), so once a leader answers it looks for locks
// and names held or awaited by PIDs of this node's name that are not this
// incarnation's (a data dir wiped and the node restarted under its name
// before peers declared it gone) and releases those sessions one by one.
// Usually there are none and it ends after one read.
func (n *Node) releaseLeftovers(ctx context.Context) {
	for {
		pids, err := n.leftoverPIDs(ctx)
		for _, pid := range pids {
			if err == nil {
				rctx, cancel := context.WithTimeout(ctx, n.core.ApplyTimeout())
				err = n.releaseSession(rctx, pid)
				cancel()
			}
		}
		switch {
		case err == nil:
			if len(pids) > 0 {
				n.log.Info().Strs("pids", pids).Msg("sessions left by an earlier node of this name released")
			}
			return
		case errors.Is(err, ErrTooLarge):
			n.log.Warn().Err(err).Msg("cannot list the lock and name tables through the leader; sessions of an earlier node of this name are not released")
			return
		}
		n.log.Debug().Err(err).Msg("release of an earlier node's sessions pending")
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.duties.interval * 4):
		}
	}
}

// leftoverPIDs lists the PIDs of this node's name, not open here, that
// hold or wait for a lock or hold a consistent or strong name.
func (n *Node) leftoverPIDs(ctx context.Context) ([]string, error) {
	rctx, cancel := context.WithTimeout(ctx, n.core.ApplyTimeout())
	defer cancel()
	ls, err := n.LockList(rctx, "", ReadDefault)
	if err != nil {
		return nil, err
	}
	bs, err := n.NameList(rctx, "", naming.ScopeConsistent, ReadDefault)
	if err != nil {
		return nil, err
	}
	strong, err := n.NameList(rctx, "", naming.ScopeStrong, ReadDefault)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(pid string) {
		if wire.NodeOf(pid) != n.Name() || seen[pid] {
			return
		}
		seen[pid] = true
		if _, open := n.sessions.get(pid); !open {
			out = append(out, pid)
		}
	}
	for _, l := range ls {
		add(l.Holder)
		for _, w := range l.Waiters {
			add(w.PID)
		}
	}
	for _, b := range append(bs, strong...) {
		add(b.PID)
	}
	return out, nil
}

// dutyLoop runs the node's periodic duties until ctx ends.
func (n *Node) dutyLoop(ctx context.Context) {
	t := time.NewTicker(n.duties.interval)
	defer t.Stop()
	gone := map[string]time.Time{}
	var c contactState
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.sessions.reap()
		n.names.Compact()
		if n.core.IsLeader() {
			n.leaderDuties(ctx, gone)
		} else {
			clear(gone)
		}
		n.checkContact(ctx, &c)
	}
}

// releaseLoop proposes the releases of ended sessions that are still
// pending (TTL lapses, and releases that found no quorum), apart from the
// duty loop so a long wait for quorum cannot delay at-risk warnings.
func (n *Node) releaseLoop(ctx context.Context) {
	t := time.NewTicker(n.duties.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.sessions.retryPending(ctx, n.core.ApplyTimeout())
		}
	}
}

// leaderDuties ticks the lock table when a wait or lock delay is due and
// releases the locks of nodes that have been dead in gossip for the grace.
func (n *Node) leaderDuties(ctx context.Context, gone map[string]time.Time) {
	now := time.Now()
	if due, ok := n.lockTable.nextDeadline(); ok && !now.Before(due) {
		tctx, cancel := context.WithTimeout(ctx, n.core.ApplyTimeout())
		if err := n.lockTick(tctx); err != nil {
			n.log.Debug().Err(err).Msg("lock tick")
		}
		cancel()
	}
	nodes := map[string]bool{}
	n.lockTable.nodes(nodes)
	for _, node := range n.names.Table().Nodes() {
		nodes[node] = true
	}
	for node := range gone {
		if !nodes[node] {
			delete(gone, node)
		}
	}
	for node := range nodes {
		if m, ok := n.ml.Member(node); ok && m.State == gossip.StateAlive {
			delete(gone, node)
			continue
		}
		since, seen := gone[node]
		if !seen {
			gone[node] = now
			continue
		}
		if now.Sub(since) < n.duties.nodeGoneGrace {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, n.core.ApplyTimeout())
		err := n.releaseNode(rctx, node)
		cancel()
		if err != nil {
			n.log.Warn().Err(err).Str("peer", node).Msg("release of a gone node's sessions failed")
			continue
		}
		delete(gone, node)
		n.log.Info().Str("peer", node).Dur("gone_for", now.Sub(since)).Msg("node declared gone; its sessions' locks released")
	}
}

// contactState tracks this node's contact with the Raft core.
type contactState struct {
	last     time.Time // last known contact
	lastPing time.Time
	// told holds the grants whose sessions were told lock_at_risk and not
	// yet lock_safe or lock_lost.
	told map[toldKey]uint64
}

type toldKey struct {
	s    *session
	name string
}

// checkContact tells sessions that hold locks when this node has lost
// contact with the Raft core (and, once it is back, whether each lock is
// still theirs): their locks may be released by the leader if this node is
// declared gone meanwhile.
func (n *Node) checkContact(ctx context.Context, c *contactState) {
	var holders []*session
	for _, s := range n.sessions.all() {
		if len(s.Held()) > 0 {
			holders = append(holders, s)
		}
	}
	now := time.Now()
	if c.told == nil {
		c.told = map[toldKey]uint64{}
	}
	if len(holders) == 0 {
		c.last = now
		clear(c.told)
		return
	}
	st := n.core.Status()
	switch {
	case st.State == "leader":
		c.last = now
	case st.Member:
		if st.LeaderID != "" && st.LastContact < n.duties.atRiskAfter {
			c.last = now
		}
	case now.Sub(c.lastPing) >= n.duties.atRiskAfter/4:
		// A client node has no heartbeat: ask the leader.
		c.lastPing = now
		pctx, cancel := context.WithTimeout(ctx, n.duties.atRiskAfter/2)
		if _, err := n.core.Servers(pctx); err == nil {
			c.last = now
		}
		cancel()
	}
	if now.Sub(c.last) >= n.duties.atRiskAfter {
		// Every grant not told yet is told, including one made after an
		// earlier warning whose all-clear could not be confirmed.
		detail := "no contact with the Raft core for " + now.Sub(c.last).Round(time.Millisecond).String()
		for _, s := range holders {
			for name, token := range s.Held() {
				k := toldKey{s: s, name: name}
				if t, ok := c.told[k]; ok && t == token {
					continue
				}
				if len(c.told) == 0 {
					n.log.Warn().Dur("since", now.Sub(c.last)).Msg("lost contact with the raft core; telling lock holders")
				}
				c.told[k] = token
				s.emit(SessionEvent{Kind: EventLockAtRisk, Lock: name, Token: token, Detail: detail})
			}
		}
		return
	}
	// Contact is back, but the cluster may have declared this node gone
	// meanwhile and given its locks away, and this replica may not have
	// applied that yet: only the leader can say a lock is safe.
	if len(c.told) > 0 && n.confirmHeld(ctx, c.told) {
		clear(c.told)
	}
}

// confirmHeld asks the leader whether each grant told at risk is still its
// session's: lock_safe if it is, lock_lost if the cluster released the lock
// while this node was out of contact. If the leader cannot answer, it tells
// nobody anything and reports false (the caller asks again next round).
func (n *Node) confirmHeld(ctx context.Context, told map[toldKey]uint64) bool {
	qctx, cancel := context.WithTimeout(ctx, n.duties.atRiskAfter/2)
	defer cancel()
	safe := make(map[toldKey]bool, len(told))
	for k, token := range told {
		info, err := n.LockInspect(qctx, k.name, ReadDefault)
		if err != nil && !errors.Is(err, ErrNotFound) {
			n.log.Debug().Err(err).Str("lock", k.name).Msg("contact back; lock holder not confirmed yet")
			return false
		}
		safe[k] = info.Holder == k.s.pid && info.Token == token
	}
	for k, token := range told {
		if safe[k] {
			k.s.emit(SessionEvent{Kind: EventLockSafe, Lock: k.name, Token: token, Detail: "contact with the Raft core is back"})
		} else if k.s.dropHeldToken(k.name, token) {
			// Once dropped, the replica's own release event finds nothing
			// held and adds no second lock_lost.
			k.s.emit(SessionEvent{Kind: EventLockLost, Lock: k.name, Token: token,
				Detail: "released by the cluster while this node was out of contact"})
		}
	}
	return true
}
