package raftcore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Run drives the Core until ctx is done: it bootstraps per
// bootstrap_expect, keeps the node's advert current, and on the leader adds
// nodes that joined gossip. The caller owns the goroutine; Run returns nil
// when ctx is cancelled.
func (c *Core) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		c.leaderLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		c.leaderLossLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		c.displacedLoop(ctx)
	}()
	c.mainLoop(ctx)
	wg.Wait()
	return nil
}

// mainLoop turns Raft observations into change signals, runs bootstrap, and
// publishes the advert whenever it changes.
func (c *Core) mainLoop(ctx context.Context) {
	tick := time.NewTicker(c.cfg.BootstrapPoll)
	defer tick.Stop()
	var (
		last      Advert
		published bool
		bootstrap = c.newBootstrapper()
	)
	publish := func() {
		a := c.advert()
		if published && a == last {
			return
		}
		c.deps.Publisher.Publish(ctx, a)
		last, published = a, true
	}
	bootstrap.step()
	publish()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.shutdownCh:
			return
		case o := <-c.obsCh:
			switch o.Data.(type) {
			case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
				c.rec.observeHeartbeat(o.Data, c.now())
				continue
			}
			c.refreshMember()
			c.signalChange()
		case <-tick.C:
			// A follower gets no observation when an entry adds it to the
			// configuration: read membership here as well.
			c.refreshMember()
			bootstrap.step()
			c.adoptClusterID()
		}
		publish()
	}
}

// advert is what this node currently tells its peers.
func (c *Core) advert() Advert {
	c.mu.Lock()
	a := Advert{Nonce: c.nonce, ClusterID: c.clusterID}
	formed := c.sawFormed
	c.mu.Unlock()
	switch {
	case c.hadState || c.member.Load() || a.ClusterID != "":
		a.Bootstrap = BootstrapDone
	case c.cfg.BootstrapExpect >= 2 && c.cfg.Eligible && !formed:
		a.Bootstrap = BootstrapPending
	}
	_, id := c.raft.LeaderWithID()
	if id != "" {
		a.Leader = string(id)
		a.Term = c.raft.CurrentTerm()
	}
	return a
}

// bootstrapper holds the state of the stability window between polls.
type bootstrapper struct {
	c          *Core
	done       bool
	key        string
	since      time.Time
	lastReason string
	lastLogged time.Time
}

func (c *Core) newBootstrapper() *bootstrapper {
	b := &bootstrapper{c: c}
	switch {
	case c.hadState:
		b.done = true
		c.log.Info().Str("cluster_id", c.ClusterID()).Msg("raft state found on disk; not bootstrapping")
	case c.cfg.BootstrapExpect == 0:
		b.done = true
		c.log.Info().Msg("bootstrap_expect is 0; waiting to be added to an existing cluster")
	case !c.cfg.Eligible:
		b.done = true
		c.log.Info().Msg("not eligible to vote; not bootstrapping, waiting to join an existing cluster")
	}
	return b
}

// step runs one bootstrap poll.
func (b *bootstrapper) step() {
	c := b.c
	if b.done {
		return
	}
	if c.member.Load() {
		b.done = true
		return
	}
	if c.cfg.BootstrapExpect == 1 {
		b.bootstrap([]raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(c.cfg.NodeID),
			Address: c.transport.LocalAddr()}}, mintClusterID([]string{c.cfg.NodeID + "=" + c.nonce}))
		return
	}
	plan := planBootstrap(c.cfg.NodeID, c.cfg.BootstrapExpect, c.deps.View.Peers())
	now := c.now()
	if plan.formed {
		c.mu.Lock()
		c.sawFormed = true
		c.mu.Unlock()
		b.done = true
		c.log.Info().Str("reason", plan.reason).Msg("not bootstrapping")
		return
	}
	if !plan.ready {
		b.key = ""
		if plan.reason != b.lastReason || now.Sub(b.lastLogged) >= c.cfg.RefusalLogInterval {
			c.log.Info().Int("bootstrap_expect", c.cfg.BootstrapExpect).Str("reason", plan.reason).
				Msg("not bootstrapping yet")
			b.lastReason, b.lastLogged = plan.reason, now
		}
		return
	}
	if plan.key != b.key {
		b.key, b.since = plan.key, now
		c.log.Info().Str("peers", plan.key).Dur("window", c.cfg.BootstrapWindow).
			Msg("bootstrap peers complete; waiting for the stability window")
	}
	if now.Sub(b.since) < c.cfg.BootstrapWindow {
		return
	}
	b.bootstrap(plan.servers, plan.clusterID)
}

func (b *bootstrapper) bootstrap(servers []raft.Server, clusterID string) {
	c := b.c
	if err := c.setClusterID(clusterID); err != nil {
		c.log.Error().Err(err).Msg("bootstrap failed")
		return
	}
	err := c.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		c.log.Error().Err(err).Msg("bootstrap failed")
		return
	}
	b.done = true
	c.refreshMember()
	c.log.Info().Int("voters", len(servers)).Str("cluster_id", clusterID).Msg("bootstrapped cluster")
}

// adoptClusterID takes the cluster ID of the cluster this node joined
// without bootstrapping it: the one its Raft leader advertises, or, on a
// client node (no Raft leader of its own), the one the leader with the
// highest advertised term advertises.
func (c *Core) adoptClusterID() {
	if c.ClusterID() != "" {
		return
	}
	_, leader := c.raft.LeaderWithID()
	if !c.member.Load() {
		leader = ""
	}
	peers := c.deps.View.Peers()
	if leader == "" {
		var term uint64
		for _, p := range peers {
			if p.Alive && p.Leader != "" && p.Term >= term {
				leader, term = raft.ServerID(p.Leader), p.Term
			}
		}
	}
	if leader == "" {
		return
	}
	for _, p := range peers {
		if p.ID == string(leader) && p.ClusterID != "" {
			if err := c.setClusterID(p.ClusterID); err != nil {
				c.log.Error().Err(err).Msg("store cluster id")
				return
			}
			c.log.Info().Str("cluster_id", p.ClusterID).Msg("joined cluster")
			return
		}
	}
}

// handOff transfers leadership away from a node that must not lead
// (StepDown), within ApplyTimeout; a failure is logged and retried at the
// next wake-up of the leader loop.
func (c *Core) handOff(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
	defer cancel()
	if err := c.transferLeadership(ctx); err != nil {
		c.log.Error().Err(err).Msg("stepping down: cannot hand off leadership")
	}
}

// serverMoved reports whether a server of the configuration is alive in
// gossip at an address other than its Raft address.
func (c *Core) serverMoved() bool {
	addr := map[string]string{}
	for _, s := range c.refreshMember() {
		addr[string(s.ID)] = string(s.Address)
	}
	for _, p := range c.deps.View.Peers() {
		if a, ok := addr[p.ID]; ok && p.Alive && p.Addr != "" && p.Addr != a {
			return true
		}
	}
	return false
}

// leaderLoop does the leader's duties: a barrier at the start of each term
// (so reads see everything committed before it), then a reconcile pass
// ReconcileDebounce after a membership notification, and a safety pass
// every ReconcileInterval that repairs anything a dropped event missed.
func (c *Core) leaderLoop(ctx context.Context) {
	tick := time.NewTicker(c.cfg.ReconcileInterval)
	defer tick.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	armed := false
	// recheck wakes the loop when a node waiting out its stabilisation
	// window becomes ready, so that it need not wait for the next tick.
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	for {
		run := false
		select {
		case <-ctx.Done():
			return
		case <-c.shutdownCh:
			return
		case <-tick.C:
			run = true
		case <-recheck.C:
			run = true
		case <-c.notifyCh:
			// A server back on a new address waits for no debounce: until
			// its Raft address is updated it cannot vote (one change, not
			// a burst of joins to batch).
			if c.raft.State() == raft.Leader && c.serverMoved() {
				run = true
				break
			}
			if !armed {
				debounce.Reset(c.cfg.ReconcileDebounce)
				armed = true
			}
		case <-debounce.C:
			armed, run = false, true
		case <-c.changedCh():
		case <-c.stepDownCh:
		}
		if c.raft.State() != raft.Leader {
			continue
		}
		if c.stepDown.Load() {
			c.handOff(ctx)
			continue
		}
		term := c.raft.CurrentTerm()
		if c.readyTerm.Load() != term {
			if err := c.await(c.raft.Barrier(c.cfg.ApplyTimeout)); err != nil {
				c.log.Warn().Err(err).Uint64("term", term).Msg("leader barrier failed")
				continue
			}
			c.readyTerm.Store(term)
			c.rec.resetHeartbeats()
			c.rec.resetStability()
			c.log.Info().Uint64("term", term).Msg("leadership established")
			c.signalChange()
			run = true
		}
		if run {
			c.reconcile(ctx)
			recheck.Stop()
			if at := c.rec.recheck; !at.IsZero() {
				recheck.Reset(max(at.Sub(c.now()), 0) + 10*time.Millisecond)
			}
		}
	}
}

// onTicks calls f every d until ctx ends or the Core shuts down: the
// skeleton of the Core's periodic checks.
func (c *Core) onTicks(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.shutdownCh:
			return
		case <-t.C:
		}
		f()
	}
}
