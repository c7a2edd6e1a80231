package raftcore

import (
	"context"
	"errors"
	"slices"
	"strings"
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
// A leader that is paused, cut off or on a dead host gives timeouts, not a
// refusal. For those, a voter that has heard nothing for a whole heartbeat
// timeout asks the other voters when they last heard from the leader; if
// enough of them for a quorum (with itself) have not heard from it for a
// heartbeat timeout either, it starts the same election. Raft could not
// elect anyone sooner (each follower's timer is at least the heartbeat
// timeout, and a follower refuses a pre-vote until its own has run out), so
// this adds no election Raft would not hold; it only skips the randomised
// wait (up to twice the timeout) and the refused pre-votes.
//
// Only one voter starts: the remaining voters in ID order, the r-th after
// r staggers more and only if nobody has started meanwhile (two at once
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
	var firedTerm uint64
	var lastProbe time.Time
	c.onTicks(ctx, every, func() {
		if c.raft.State() != raft.Follower {
			return
		}
		addr, id := c.raft.LeaderWithID()
		term := c.raft.CurrentTerm()
		if id == "" || string(id) == c.cfg.NodeID || term == firedTerm {
			return
		}
		now := c.now()
		silent := now.Sub(c.raft.LastContact())
		if silent < silentAfter || now.Sub(lastProbe) < 2*every {
			return
		}
		voters, rank, ok := c.failoverVoters(id)
		if !ok || silent < silentAfter+time.Duration(rank)*stagger {
			return
		}
		lastProbe = now
		why := ""
		switch {
		case silent >= c.cfg.HeartbeatTimeout+time.Duration(rank)*stagger &&
			c.quorumSilent(ctx, voters, id, term, probeTimeout):
			why = "a quorum of voters has not heard from the leader: starting an election now"
		case c.refuses(addr, probeTimeout):
			why = "the leader's mesh port refuses connections: starting an election now"
		default:
			return
		}
		// Still the same leader in the same term: nobody started yet.
		if _, again := c.raft.LeaderWithID(); again != id || c.raft.CurrentTerm() != term {
			return
		}
		firedTerm = term
		c.stats.leaderLoss.Add(1)
		c.log.Warn().Str("leader", string(id)).Str("leader_addr", string(addr)).Uint64("term", term).
			Dur("silent", silent).Int("rank", rank).Msg(why)
		c.startElection()
	})
}

// failoverVoters returns the voters that would elect the next leader
// (every voter but the leader, by ID, with their addresses) and this
// node's place among them; false if it is not one.
func (c *Core) failoverVoters(leader raft.ServerID) ([]raft.Server, int, bool) {
	var voters []raft.Server
	for _, s := range c.refreshMember() {
		if s.Suffrage == raft.Voter && s.ID != leader {
			voters = append(voters, s)
		}
	}
	slices.SortFunc(voters, func(a, b raft.Server) int { return strings.Compare(string(a.ID), string(b.ID)) })
	rank := slices.IndexFunc(voters, func(s raft.Server) bool { return string(s.ID) == c.cfg.NodeID })
	return voters, rank, rank >= 0
}

// quorumSilent asks the other voters, all at once and for at most timeout,
// about their leader. It reports whether this node and those that still
// follow leader in term, and have not heard from it for a heartbeat
// timeout, make a quorum of the configuration (voters plus the leader).
func (c *Core) quorumSilent(ctx context.Context, voters []raft.Server, leader raft.ServerID, term uint64, timeout time.Duration) bool {
	need := (len(voters)+1)/2 + 1 // a majority of the voters with the leader
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answers := make(chan bool, len(voters))
	asked := 0
	for _, v := range voters {
		if string(v.ID) == c.cfg.NodeID {
			continue
		}
		asked++
		go func() {
			st, body, err := c.forward(ctx, string(v.Address), opContact, nil)
			if err != nil || st != stOK {
				answers <- false
				return
			}
			ct, err := decodeContact(body)
			if err != nil {
				c.stats.malformed.Add(1)
				answers <- false
				return
			}
			answers <- ct.term == term && (ct.leader == "" || ct.leader == string(leader)) &&
				time.Duration(ct.silentMs)*time.Millisecond >= c.cfg.HeartbeatTimeout
		}()
	}
	agree := 1 // this node
	for range asked {
		if <-answers {
			agree++
		}
	}
	return agree >= need
}

// contact is what a member answers to op contact: its term, its leader (if
// it knows one) and how long since it last heard from it.
type contact struct {
	term     uint64
	silentMs uint64
	leader   string
}

// contact is this node's answer to op contact.
func (c *Core) contact() contact {
	_, id := c.raft.LeaderWithID()
	ct := contact{term: c.raft.CurrentTerm(), leader: string(id)}
	if lc := c.raft.LastContact(); !lc.IsZero() {
		ct.silentMs = uint64(max(c.now().Sub(lc), 0) / time.Millisecond)
	} else {
		ct.silentMs = uint64(c.cfg.HeartbeatTimeout / time.Millisecond)
	}
	return ct
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
