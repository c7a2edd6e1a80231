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
	// the leader releases everything its sessions held. The lock
	// service's at-risk threshold (locks.Config.AtRiskAfter) is no longer
	// than this, so its warning comes first.
	nodeGoneGrace time.Duration
}

var (
	defaultDuties = dutyTimings{interval: 200 * time.Millisecond, nodeGoneGrace: 2 * time.Second}
	localDuties   = dutyTimings{interval: 50 * time.Millisecond, nodeGoneGrace: 500 * time.Millisecond}
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
		n.lockSvc.CheckContact(ctx)
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
// releases what the sessions of nodes that have been dead in gossip for
// the grace own, in every table.
func (n *Node) leaderDuties(ctx context.Context, gone map[string]time.Time) {
	now := time.Now()
	if err := n.lockSvc.TickIfDue(ctx); err != nil {
		n.log.Debug().Err(err).Msg("lock tick")
	}
	nodes := map[string]bool{}
	for _, node := range n.lockTable.Nodes() {
		nodes[node] = true
	}
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
