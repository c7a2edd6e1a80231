package raftcore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// churnWindow and churnBurst define a voter churn burst: more than
// churnBurst voter changes within churnWindow (DESIGN §14).
const (
	churnWindow = time.Minute
	churnBurst  = 3
)

// reconciler is the leader's state between passes. Only the leader loop
// touches it, except silent, which the observation handler writes.
type reconciler struct {
	aliveSince    map[string]time.Time // first seen alive, continuously
	caughtUpSince map[string]time.Time // standbys: first found caught up, continuously
	recheck       time.Time            // when the last plan wants another pass

	mu          sync.Mutex
	failedSince map[string]time.Time // first failed heartbeat since the last success
	changes     []time.Time          // voter changes within churnWindow
	bursts      uint64
	inBurst     bool
	// settled is set by the first pass that plans nothing (no change, no
	// recheck pending, no node staged for a seat): the core has formed.
	// Voter changes before it are the formation (bootstrap voters
	// reshuffled by rank and failure domain, the core growing to its
	// target), not churn.
	settled bool
}

func newReconciler() *reconciler {
	return &reconciler{aliveSince: map[string]time.Time{}, caughtUpSince: map[string]time.Time{},
		failedSince: map[string]time.Time{}}
}

// resetStability forgets every node's alive and caught-up times: a new
// leader watches each node for the whole window itself, rather than trust
// times recorded in an earlier term (a node may have died and come back
// meanwhile). Only the leader loop calls it.
func (r *reconciler) resetStability() {
	r.aliveSince = map[string]time.Time{}
	r.caughtUpSince = map[string]time.Time{}
	r.recheck = time.Time{}
}

// observeHeartbeat records raft's heartbeat observations on the leader.
func (r *reconciler) observeHeartbeat(o any, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch o := o.(type) {
	case raft.FailedHeartbeatObservation:
		if _, ok := r.failedSince[string(o.PeerID)]; !ok {
			r.failedSince[string(o.PeerID)] = now
		}
	case raft.ResumedHeartbeatObservation:
		delete(r.failedSince, string(o.PeerID))
	}
}

// forget drops what is known of a peer's heartbeats (it left the
// configuration; a later re-add starts clean).
func (r *reconciler) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failedSince, id)
}

// resetHeartbeats drops every record: a new term has new replication.
func (r *reconciler) resetHeartbeats() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failedSince = map[string]time.Time{}
}

func (r *reconciler) silent(id string, now time.Time, after time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	since, ok := r.failedSince[id]
	return ok && now.Sub(since) >= after
}

// settle marks the core formed: voter changes from now on count as churn.
func (r *reconciler) settle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settled = true
}

func (r *reconciler) voterChanged(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.settled {
		return // forming, not churning
	}
	kept := r.changes[:0]
	for _, t := range r.changes {
		if now.Sub(t) < churnWindow {
			kept = append(kept, t)
		}
	}
	r.changes = append(kept, now)
	if len(r.changes) > churnBurst {
		if !r.inBurst {
			r.bursts++
			r.inBurst = true
		}
	} else {
		r.inBurst = false
	}
}

func (r *reconciler) burstCount() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bursts
}

// reconcile runs one pass on the leader: read the configuration and the
// gossip view, plan, apply the changes in order, stop at the first error.
func (c *Core) reconcile(ctx context.Context) {
	now := c.now()
	servers := c.refreshMember()
	members := make([]Member, 0, len(servers))
	for _, s := range servers {
		members = append(members, Member{
			ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter,
			Silent: string(s.ID) != c.cfg.NodeID && c.rec.silent(string(s.ID), now, c.cfg.SilentAfter),
		})
	}
	clusterID := c.ClusterID()
	c.mu.Lock()
	for id, at := range c.removed {
		if now.Sub(at) > time.Minute {
			delete(c.removed, id)
		}
	}
	removed := make(map[string]bool, len(c.removed))
	for id := range c.removed {
		removed[id] = true
	}
	c.mu.Unlock()

	c.probeStandbys(ctx, members, now)
	c.admitMembers(ctx, members)

	peers := c.deps.View.Peers()
	seen := make(map[string]bool, len(peers))
	cands := make([]Candidate, 0, len(peers))
	for _, p := range peers {
		alive := p.Alive && !removed[p.ID]
		if p.ID == c.cfg.NodeID {
			alive = true
		}
		seen[p.ID] = true
		if !alive {
			delete(c.rec.aliveSince, p.ID)
		} else if _, ok := c.rec.aliveSince[p.ID]; !ok {
			c.rec.aliveSince[p.ID] = now
		}
		cands = append(cands, Candidate{
			ID: p.ID, Addr: p.Addr, Alive: alive, Eligible: p.Eligible, Priority: p.Priority,
			Domain: p.Domain, AliveSince: c.rec.aliveSince[p.ID], ClusterID: p.ClusterID,
			Admitted: c.cfg.ManualAdmission && c.deps.Admissions.Admitted(p.ID),
		})
	}
	for id := range c.rec.aliveSince {
		if !seen[id] {
			delete(c.rec.aliveSince, id)
		}
	}
	pl := plan(cands, members, Policy{
		MaxVoters: c.cfg.MaxVoters, MaxStandbys: c.cfg.MaxStandbys, Stabilization: c.cfg.Stabilization,
		MinQuorum: c.cfg.MinQuorum, Leader: c.cfg.NodeID, ClusterID: clusterID,
		ManualAdmission: c.cfg.ManualAdmission, Now: now,
	})
	c.rec.recheck = pl.Recheck
	if len(pl.Changes) == 0 && pl.Recheck.IsZero() && len(pl.Staged) == 0 {
		c.rec.settle()
	}
	for _, ch := range pl.Changes {
		if ctx.Err() != nil || c.raft.State() != raft.Leader {
			return
		}
		if err := c.applyChange(ch); err != nil {
			c.log.Warn().Err(err).Str("change", ch.Kind.String()).Str("peer", ch.ID).Msg("reconcile change failed")
			return
		}
		c.log.Info().Str("change", ch.Kind.String()).Str("peer", ch.ID).Str("addr", ch.Addr).Msg("reconciled")
		if ch.Kind == TransferLeadership {
			return
		}
	}
}

// applyChange makes one change and waits for raft's answer through await,
// so that a future raft never answers (it shut down meanwhile) does not hold
// the leader loop, and so Run, past the Core's shutdown.
func (c *Core) applyChange(ch Change) error {
	id, addr, timeout := raft.ServerID(ch.ID), raft.ServerAddress(ch.Addr), c.cfg.ApplyTimeout
	var err error
	voterChange := false
	switch ch.Kind {
	case AddVoter:
		err, voterChange = c.await(c.raft.AddVoter(id, addr, 0, timeout)), true
	case AddStandby:
		err = c.await(c.raft.AddNonvoter(id, addr, 0, timeout))
	case UpdateAddr:
		if ch.Voter {
			err = c.await(c.raft.AddVoter(id, addr, 0, timeout))
		} else {
			err = c.await(c.raft.AddNonvoter(id, addr, 0, timeout))
		}
	case Demote:
		err, voterChange = c.await(c.raft.DemoteVoter(id, 0, timeout)), true
	case Remove:
		for _, s := range c.refreshMember() {
			if s.ID == id && s.Suffrage == raft.Voter {
				voterChange = true
			}
		}
		err = c.await(c.raft.RemoveServer(id, 0, timeout))
		c.rec.forget(ch.ID)
	case TransferLeadership:
		err = c.await(c.raft.LeadershipTransferToServer(id, addr))
	default:
		err = errors.New("unknown change")
	}
	if err != nil {
		return fmt.Errorf("raftcore: %s %s: %w", ch.Kind, ch.ID, err)
	}
	if voterChange {
		c.rec.voterChanged(c.now())
	}
	c.refreshMember()
	return nil
}

// probeStandbys asks every standby for its log position, all at once and
// for at most two heartbeat timeouts, and records in members since when
// each has been caught up: its last index within CatchUpLag of the
// leader's commit index, in the leader's term. A standby that answers
// behind, or that the leader's heartbeats miss (Silent), starts over; one
// whose answer is lost keeps what was known, so that one slow probe on a
// loaded machine does not restart the window (a standby that stays
// unreachable turns Silent).
func (c *Core) probeStandbys(ctx context.Context, members []Member, now time.Time) {
	commit, term := c.raft.CommitIndex(), c.raft.CurrentTerm()
	ctx, cancel := context.WithTimeout(ctx, 2*c.cfg.HeartbeatTimeout)
	defer cancel()
	const (
		unknown = iota
		behind
		caughtUp
	)
	state := make([]int, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if m.Voter || m.ID == c.cfg.NodeID {
			continue
		}
		if m.Silent {
			state[i] = behind
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, body, err := c.forward(ctx, m.Addr, opStatus, nil)
			if err != nil || st != stOK {
				return
			}
			last, peerTerm, err := decodeStatus(body)
			if err != nil {
				c.stats.malformed.Add(1)
				return
			}
			state[i] = behind
			if peerTerm == term && last+c.cfg.CatchUpLag >= commit {
				state[i] = caughtUp
			}
		}()
	}
	wg.Wait()
	for i, m := range members {
		switch {
		case m.Voter || m.ID == c.cfg.NodeID:
			delete(c.rec.caughtUpSince, m.ID)
			continue
		case state[i] == behind:
			delete(c.rec.caughtUpSince, m.ID)
		case state[i] == caughtUp:
			if _, ok := c.rec.caughtUpSince[m.ID]; !ok {
				c.rec.caughtUpSince[m.ID] = now
			}
		}
		members[i].CaughtUpSince = c.rec.caughtUpSince[m.ID]
	}
	for id := range c.rec.caughtUpSince {
		if !slices.ContainsFunc(members, func(m Member) bool { return m.ID == id }) {
			delete(c.rec.caughtUpSince, id)
		}
	}
}

// admitMembers records, under manual admission, every member of the
// configuration as admitted, so that one removed later may come back
// without an operator: a node already in the core when manual admission is
// turned on stays admitted.
func (c *Core) admitMembers(ctx context.Context, members []Member) {
	if !c.cfg.ManualAdmission {
		return
	}
	for _, m := range members {
		if ctx.Err() != nil {
			return
		}
		if c.deps.Admissions.Admitted(m.ID) {
			continue
		}
		if err := c.Admit(ctx, m.ID); err != nil {
			c.log.Warn().Err(err).Str("peer", m.ID).Msg("recording a member as admitted failed")
			return
		}
		c.log.Info().Str("peer", m.ID).Msg("member recorded as admitted")
	}
}
