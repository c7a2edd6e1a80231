package raftcore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
// Only one voter starts: the voters rank themselves from the others'
// answers, the most up to date log first, then by ID; the r-th waits r
// staggers more and starts only if nobody has meanwhile (two at once split
// the vote). A voter that could not win, because too many voters have a
// longer log and would refuse it their votes, never starts: it would cost
// a whole election timeout (seen as a 2.8 s gap when the leader was cut
// off and the lower ID lagged); one of those voters will start, by this
// path or by raft's own timer. The guess decides only when an election
// starts: votes still need a majority and a log at least as up to date,
// so safety does not depend on it.

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
		voters, ok := c.failoverVoters(id)
		if !ok {
			return
		}
		lastProbe = now
		others := c.askContacts(ctx, voters, probeTimeout)
		rank, grants := c.failoverRank(others, term)
		if grants < failoverQuorum(voters) {
			// Voters with longer logs would refuse this node's vote
			// request: the election is theirs to start.
			return
		}
		why := ""
		switch {
		case silent >= c.cfg.HeartbeatTimeout+time.Duration(rank)*stagger && c.quorumSilent(others, voters, id, term):
			why = "a quorum of voters has not heard from the leader: starting an election now"
		case silent >= silentAfter+time.Duration(rank)*stagger && c.refuses(addr, probeTimeout):
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
// (every voter but the leader, with their addresses); false if this node
// is not one.
func (c *Core) failoverVoters(leader raft.ServerID) ([]raft.Server, bool) {
	var voters []raft.Server
	for _, s := range c.refreshMember() {
		if s.Suffrage == raft.Voter && s.ID != leader {
			voters = append(voters, s)
		}
	}
	return voters, slices.ContainsFunc(voters, func(s raft.Server) bool { return string(s.ID) == c.cfg.NodeID })
}

// failoverQuorum is a majority of the configuration: voters (every voter
// but the leader) and the leader.
func failoverQuorum(voters []raft.Server) int { return (len(voters)+1)/2 + 1 }

// failoverRank is this node's place among itself and the voters that
// answered in term, in the order in which they should start an election:
// the most up to date log first (last term, then last index), then by ID;
// and how many of them, itself included, would grant it their vote (their
// log is no more up to date than its own). A voter that cannot answer
// with its log counts as level with this one.
func (c *Core) failoverRank(others []contact, term uint64) (rank, grants int) {
	mine := c.contactLog()
	grants = 1
	for _, ct := range others {
		if ct.term != term {
			continue
		}
		level := !ct.hasLog || ct.lastTerm == mine.lastTerm && ct.lastIndex == mine.lastIndex
		ahead := ct.hasLog && (ct.lastTerm > mine.lastTerm || ct.lastTerm == mine.lastTerm && ct.lastIndex > mine.lastIndex)
		if ahead || level && string(ct.from) < c.cfg.NodeID {
			rank++
		}
		if !ahead {
			grants++
		}
	}
	return rank, grants
}

// askContacts asks the other voters, all at once and for at most timeout,
// about their leader and their log, and returns the answers it got. A
// voter of a version before opContactLog is asked opContact instead.
func (c *Core) askContacts(ctx context.Context, voters []raft.Server, timeout time.Duration) []contact {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answers := make(chan *contact, len(voters))
	asked := 0
	for _, v := range voters {
		if string(v.ID) == c.cfg.NodeID {
			continue
		}
		asked++
		go func() {
			ct, err := c.askContact(ctx, string(v.Address), opContactLog, decodeContactLog)
			if err != nil && ctx.Err() == nil {
				ct, err = c.askContact(ctx, string(v.Address), opContact, decodeContact)
			}
			if err != nil {
				answers <- nil
				return
			}
			ct.from = v.ID
			answers <- &ct
		}()
	}
	var out []contact
	for range asked {
		if ct := <-answers; ct != nil {
			out = append(out, *ct)
		}
	}
	return out
}

func (c *Core) askContact(ctx context.Context, addr string, op byte, decode func([]byte) (contact, error)) (contact, error) {
	st, body, err := c.forward(ctx, addr, op, nil)
	if err != nil {
		return contact{}, err
	}
	if st != stOK {
		return contact{}, fmt.Errorf("raftcore: contact: status %d", st)
	}
	ct, err := decode(body)
	if err != nil {
		c.stats.malformed.Add(1)
	}
	return ct, err
}

// quorumSilent reports whether this node and the voters among others that
// still follow leader in term, and have not heard from it for a heartbeat
// timeout, make a quorum of the configuration (voters plus the leader).
func (c *Core) quorumSilent(others []contact, voters []raft.Server, leader raft.ServerID, term uint64) bool {
	need := failoverQuorum(voters)
	agree := 1 // this node
	for _, ct := range others {
		if ct.term == term && (ct.leader == "" || ct.leader == string(leader)) &&
			time.Duration(ct.silentMs)*time.Millisecond >= c.cfg.HeartbeatTimeout {
			agree++
		}
	}
	return agree >= need
}

// contact is what a member answers to op contact: its term, its leader (if
// it knows one) and how long since it last heard from it; to op
// contact-log also its last log index and term (hasLog).
type contact struct {
	term     uint64
	silentMs uint64
	leader   string

	hasLog              bool
	lastIndex, lastTerm uint64

	from raft.ServerID // the voter asked (askContacts); not on the wire
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

// contactLog is this node's answer to op contact-log.
func (c *Core) contactLog() contact {
	ct := c.contact()
	ct.hasLog = true
	ct.lastIndex = c.raft.LastIndex()
	ct.lastTerm, _ = strconv.ParseUint(c.raft.Stats()["last_log_term"], 10, 64)
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
