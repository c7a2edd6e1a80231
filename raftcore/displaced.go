package raftcore

import (
	"context"

	"github.com/hashicorp/raft"
)

// A displaced member. When the leader removes a server, hashicorp/raft
// stops replicating to it once the removing entry is appended, with one
// last attempt to send it that entry. If that attempt fails (the server is
// cut off or starved at that moment), the server keeps the configuration
// that lists it and calls itself a member for good: nobody will ever
// replicate to it again, and it would serve stale reads from a replica
// frozen at the moment it was cut off.
//
// So a member that has heard from no leader for displacedAfter heartbeat
// timeouts asks the leader (the one gossip advertises, as a client would)
// for its configuration. If it is not in it, the node counts itself out
// (reads go through the leader, as on a client) until a leader contacts
// it again, which happens only if it is added back.

// displacedAfter is how many heartbeat timeouts of silence make a member
// ask whether it is still one.
const displacedAfter = 3

// displacedLoop runs on every node until ctx ends or the Core shuts down.
func (c *Core) displacedLoop(ctx context.Context) {
	ht := c.cfg.HeartbeatTimeout
	if ht <= 0 {
		return
	}
	c.onTicks(ctx, ht, func() { c.checkDisplaced(ctx) })
}

// checkDisplaced runs one check: clears the mark once a leader is heard
// from again, and asks the leader about a silent member (a follower, or a
// candidate: a removed voter's stale configuration has it stand for
// election, in vain, as the others know it is out).
func (c *Core) checkDisplaced(ctx context.Context) {
	ht := c.cfg.HeartbeatTimeout
	lc := c.raft.LastContact()
	heard := !lc.IsZero() && c.now().Sub(lc) < displacedAfter*ht
	state := c.raft.State()
	if (state != raft.Follower && state != raft.Candidate) || heard {
		if c.displaced.Swap(false) {
			c.log.Info().Msg("a leader is replicating to this node again: it is a member")
			c.refreshMember()
			c.signalChange()
		}
		return
	}
	if c.displaced.Load() || !c.member.Load() {
		return
	}
	addr, err := c.leaderAddr()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ht)
	defer cancel()
	st, body, err := c.forward(ctx, addr, opConfig, nil)
	if err != nil || st != stOK {
		return
	}
	servers, err := decodeServers(body)
	if err != nil {
		c.stats.malformed.Add(1)
		return
	}
	// Only a configuration in which the node asked is itself a voter
	// counts: a client or a stale node answers with a view that proves
	// nothing.
	answererVotes, listed := false, false
	for _, s := range servers {
		if s.Address == addr && s.Suffrage == "voter" {
			answererVotes = true
		}
		if s.ID == c.cfg.NodeID {
			listed = true
		}
	}
	if !answererVotes || listed {
		return
	}
	c.displaced.Store(true)
	c.log.Warn().Str("leader_addr", addr).Dur("silent", c.now().Sub(lc)).
		Msg("removed from the Raft configuration while out of reach (the leader's configuration does not list this node): reading through the leader until it is added back")
	c.refreshMember()
	c.signalChange()
}
