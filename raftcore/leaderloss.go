package raftcore

import (
	"context"
	"errors"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// Fast failover (Config.FastFailover). Left to hashicorp/raft, a follower
// notices a dead leader only when its heartbeat timeout (1-2 s) runs out,
// and its pre-vote is then refused by the other followers until their own
// timeouts run out as well. But when the leader's process is gone, the
// leader's host says so: its mesh port refuses connections. So a follower
// that has heard nothing for three heartbeat intervals dials the leader,
// and if the dial is refused it starts an election at once: raft's own
// leadership-transfer election (a TimeoutNow to itself), which skips the
// pre-vote and whose vote requests are granted by voters that still
// remember the dead leader.
//
// Only a refusal counts: a partition, a leader starved of CPU or a host
// that died give timeouts and are left to Raft's timeouts. Only one
// follower starts: the remaining voters in ID order, the r-th after r
// staggers more and only if nobody has started meanwhile (two at once
// split the vote and cost an election timeout). The guess decides only
// when an election starts: votes still need a majority and a log at least
// as up to date, so safety does not depend on it.

// leaderLossPoll is how often a follower looks at its leader's silence, as
// a share of the heartbeat timeout (50 ms at 1 s).
const leaderLossPoll = 20

// leaderLossLoop runs on every node until ctx ends or the Core shuts down.
func (c *Core) leaderLossLoop(ctx context.Context) {
	if !c.cfg.FastFailover || c.cfg.HeartbeatTimeout <= 0 {
		return
	}
	every := c.cfg.HeartbeatTimeout / leaderLossPoll
	// raft's leader sends heartbeats every HeartbeatTimeout/10 to /5.
	silentAfter := c.cfg.HeartbeatTimeout * 3 / 10
	stagger := c.cfg.HeartbeatTimeout / 5
	probeTimeout := c.cfg.HeartbeatTimeout / 4
	t := time.NewTicker(every)
	defer t.Stop()
	var firedTerm uint64
	var lastProbe time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.shutdownCh:
			return
		case <-t.C:
		}
		if c.raft.State() != raft.Follower {
			continue
		}
		addr, id := c.raft.LeaderWithID()
		term := c.raft.CurrentTerm()
		if id == "" || string(id) == c.cfg.NodeID || term == firedTerm {
			continue
		}
		now := c.now()
		silent := now.Sub(c.raft.LastContact())
		if silent < silentAfter || now.Sub(lastProbe) < 2*every {
			continue
		}
		rank, ok := c.failoverRank(id)
		if !ok || silent < silentAfter+time.Duration(rank)*stagger {
			continue
		}
		lastProbe = now
		if !c.refuses(addr, probeTimeout) {
			continue
		}
		// Still the same leader in the same term: nobody started yet.
		if _, again := c.raft.LeaderWithID(); again != id || c.raft.CurrentTerm() != term {
			continue
		}
		firedTerm = term
		c.stats.leaderLoss.Add(1)
		c.log.Warn().Str("leader", string(id)).Str("leader_addr", string(addr)).Uint64("term", term).
			Dur("silent", silent).Int("rank", rank).
			Msg("the leader's mesh port refuses connections: starting an election now")
		c.startElection()
	}
}

// failoverRank is this node's place among the voters that would elect the
// next leader (every voter but the leader, by ID); false if it is not one.
func (c *Core) failoverRank(leader raft.ServerID) (int, bool) {
	var ids []string
	self := false
	for _, s := range c.refreshMember() {
		if s.Suffrage != raft.Voter || s.ID == leader {
			continue
		}
		ids = append(ids, string(s.ID))
		self = self || string(s.ID) == c.cfg.NodeID
	}
	if !self {
		return 0, false
	}
	slices.Sort(ids)
	return slices.Index(ids, c.cfg.NodeID), true
}

// refuses reports whether a dial to addr was refused: nothing listens
// there. Any other outcome (a stream, a timeout, a TLS failure) is not
// proof that the leader is gone.
func (c *Core) refuses(addr raft.ServerAddress, timeout time.Duration) bool {
	conn, err := c.deps.Streams.Dial(addr, timeout)
	if err == nil {
		_ = conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// startElection hands raft a TimeoutNow from itself, as a leader
// transferring leadership to this node would send.
func (c *Core) startElection() {
	resp := make(chan raft.RPCResponse, 1)
	rpc := raft.RPC{
		Command: &raft.TimeoutNowRequest{RPCHeader: raft.RPCHeader{
			ProtocolVersion: raft.ProtocolVersionMax,
			ID:              []byte(c.cfg.NodeID),
		}},
		RespChan: resp,
	}
	if !c.rpcs.inject(rpc) {
		return
	}
	select {
	case r := <-resp:
		if r.Error != nil {
			c.log.Warn().Err(r.Error).Msg("raft refused the election")
		}
	case <-c.shutdownCh:
	}
}
