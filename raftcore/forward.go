package raftcore

import (
	"github.com/conclave-dev/conclave/internal/wire"
	"sync"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// ReadMode selects how fresh a read must be: the one every domain speaks
// (wire.ReadMode). Its value is part of the forward wire format.
type ReadMode = wire.ReadMode

const (
	ReadDefault    = wire.ReadDefault    // leader, under its lease
	ReadStale      = wire.ReadStale      // any replica
	ReadConsistent = wire.ReadConsistent // leader, verified by a quorum round
)

// Wire format of forwarded messages (class forward of the internode mesh):
//
//	request: version(1) op(1) body
//	         op apply: body = command
//	         op query: body = mode(1) query
//	         op remove: body = server ID
//	         op config: no body; reply body = the configuration (see encodeServers)
//	         op status: no body; answered by any node, leader or not:
//	                    reply body = uvarint(last log index) uvarint(current term)
//	reply:   status(1) body
//	         status ok: body = FSM or query answer
//	         otherwise: body = error text
const (
	fwdVersion = 1

	opApply  = 1
	opQuery  = 2
	opRemove = 3
	opConfig = 4
	opStatus = 5
	// opContact asks any member (not only the leader) about its own
	// leader: who, in which term, and how long since it heard from it
	// (leaderloss.go).
	opContact = 6
	// opContactLog is opContact with the member's last log index and term
	// too, so that the voter with the longest log starts the election.
	// A node before it refuses the op (decodeForward); the asker then
	// asks opContact.
	opContactLog = 7

	stOK          = 0
	stNotLeader   = 1 // nothing was done: retry at the new leader
	stUnknown     = 2 // outcome unknown
	stUnavailable = 3
	stError       = 4
)

// retryDelay paces retries while a leader is being elected.
const retryDelay = 20 * time.Millisecond

// Apply proposes cmd and returns the FSM's response once it is committed
// and applied on the leader. On a follower, standby or client the command is
// forwarded to the leader. It waits for a leader at most ApplyTimeout (or
// ctx), then fails with ErrUnavailable. A command is never sent twice
// unless the first attempt surely did not reach a leader.
func (c *Core) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	return c.call(ctx, opApply, cmd)
}

// Query answers q against an FSM replica fresh enough for mode: stale reads
// the local replica of a Raft member; default and consistent reads are
// answered by the leader (forwarded to it from other nodes).
func (c *Core) Query(ctx context.Context, mode ReadMode, q []byte) ([]byte, error) {
	if mode < ReadDefault || mode > ReadConsistent {
		return nil, fmt.Errorf("raftcore: unknown read mode %d", mode)
	}
	if mode == ReadStale && c.IsMember() {
		return c.deps.Querier.Query(q)
	}
	return c.call(ctx, opQuery, encodeQuery(mode, q))
}

// RemoveServer asks the leader to remove id from the configuration. The
// leader will not re-add it for a minute even if it is still in gossip.
func (c *Core) RemoveServer(ctx context.Context, id string) error {
	_, err := c.call(ctx, opRemove, []byte(id))
	return err
}

// Leave hands off leadership if this node leads, then has the leader remove
// it from the configuration.
// The last voter of a cluster is not removed (a configuration needs one
// voter): it just stops, keeping its state, like etcd's last member.
func (c *Core) Leave(ctx context.Context) error {
	others := c.otherVoters()
	if !c.member.Load() {
		return nil
	}
	if others == 0 && c.isVoter() {
		c.log.Warn().Msg("last voter of the cluster; leaving without removing itself from the configuration")
		return nil
	}
	if c.IsLeader() {
		if err := c.transferLeadership(ctx); err != nil {
			return err
		}
	}
	return c.RemoveServer(ctx, c.cfg.NodeID)
}

func (c *Core) isVoter() bool {
	for _, s := range c.refreshMember() {
		if string(s.ID) == c.cfg.NodeID {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}

// call runs op locally on the leader or forwards it, retrying only what
// surely was not done, until the bounded wait ends.
//
// The caller's own deadline (or cancellation) is told apart from the
// bounded wait: when the caller's ctx is done the error wraps ctx.Err()
// (context.DeadlineExceeded or Canceled), with ErrOutcomeUnknown too if a
// write had been sent; only the bounded wait's end is ErrUnavailable.
func (c *Core) call(caller context.Context, op byte, body []byte) ([]byte, error) {
	start := c.now()
	ctx, cancel := context.WithTimeout(caller, c.cfg.ApplyTimeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-c.shutdownCh:
			return nil, ErrShutdown
		default:
		}
		var (
			st   byte
			resp []byte
		)
		if c.IsLeader() {
			st, resp = c.local(op, body)
		} else {
			addr, err := c.leaderAddr()
			if err == nil {
				st, resp, err = c.forward(ctx, addr, op, body)
			}
			if err != nil {
				sent := !errors.Is(err, ErrNotSent) && !errors.Is(err, errNoLeader)
				if sent && ctx.Err() == nil && errors.Is(err, context.Canceled) {
					return nil, err
				}
				if sent && errors.Is(err, ErrReplyTooLarge) {
					// Done, but the answer cannot come back: asking again
					// would only fail again.
					return nil, fmt.Errorf("forward to leader at %s: %w", addr, err)
				}
				if caller.Err() != nil {
					return nil, callerErr(caller, op, sent, err)
				}
				if sent && (op == opApply || op == opRemove) {
					return nil, fmt.Errorf("forward to leader at %s: %w (%w): %v", addr, ErrOutcomeUnknown, wire.ErrUnavailable, err)
				}
				st, lastErr = stNotLeader, err
			}
		}
		switch st {
		case stOK:
			return resp, nil
		case stUnknown:
			return nil, fmt.Errorf("%w (%w): %s", ErrOutcomeUnknown, wire.ErrUnavailable, resp)
		case stError:
			return nil, fmt.Errorf("raftcore: %s", resp)
		case stUnavailable:
			lastErr = fmt.Errorf("%s", resp)
		}
		// Not done anywhere: wait for a leader change or a short delay.
		select {
		case <-ctx.Done():
			if caller.Err() != nil {
				return nil, callerErr(caller, op, false, lastErr)
			}
			waited := c.now().Sub(start).Round(time.Millisecond)
			if lastErr != nil {
				return nil, fmt.Errorf("%w: no leader with quorum after %s: %v", ErrUnavailable, waited, lastErr)
			}
			return nil, fmt.Errorf("%w: no leader with quorum after %s", ErrUnavailable, waited)
		case <-c.shutdownCh:
			return nil, ErrShutdown
		case <-c.changedCh():
		case <-time.After(retryDelay):
		}
	}
}

var errNoLeader = errors.New("raftcore: no known leader")

// callerErr reports the end of the caller's own ctx: DeadlineExceeded or
// Canceled, not ErrUnavailable (the caller gave up; the cluster may be
// fine). A write that was sent may have been applied: the error says so
// and also wraps ErrOutcomeUnknown.
func callerErr(caller context.Context, op byte, sent bool, last error) error {
	cerr := caller.Err()
	if sent && (op == opApply || op == opRemove) {
		return fmt.Errorf("%w; the write may have been applied (%w): %v", cerr, ErrOutcomeUnknown, last)
	}
	if last != nil {
		return fmt.Errorf("%w before a leader answered: %v", cerr, last)
	}
	return fmt.Errorf("%w before a leader answered", cerr)
}

// leaderAddr returns the leader's Raft address: from Raft on a member, and
// from the gossip advert with the highest term on anyone else.
func (c *Core) leaderAddr() (string, error) {
	if _, addr := c.Leader(); addr != "" {
		return addr, nil
	}
	return "", errNoLeader
}

// Leader returns the ID and Raft address of the leader this node knows of
// (from Raft on a member, from the gossip advert with the highest term on
// anyone else, never itself there), or "" for both. It does not block.
func (c *Core) Leader() (id, addr string) {
	if a, i := c.raft.LeaderWithID(); a != "" {
		return string(i), string(a)
	}
	peers := c.deps.View.Peers()
	var (
		leader string
		term   uint64
	)
	for _, p := range peers {
		if p.Alive && p.Leader != "" && p.Term >= term {
			leader, term = p.Leader, p.Term
		}
	}
	for _, p := range peers {
		if p.ID == leader && p.Alive && p.Addr != "" && p.ID != c.cfg.NodeID {
			return p.ID, p.Addr
		}
	}
	return "", ""
}

func (c *Core) forward(ctx context.Context, addr string, op byte, body []byte) (byte, []byte, error) {
	reply, err := c.deps.Requester.Request(ctx, addr, encodeForward(op, body))
	if err != nil {
		return 0, nil, err
	}
	st, resp, err := decodeReply(reply)
	if err != nil {
		c.stats.malformed.Add(1)
		return 0, nil, fmt.Errorf("reply from %s: %w", addr, err)
	}
	return st, resp, nil
}

// HandleForward answers a request forwarded by another node. cluster
// registers it as the handler of the mesh's forward class.
func (c *Core) HandleForward(ctx context.Context, req []byte) ([]byte, error) {
	op, body, err := decodeForward(req)
	if err != nil {
		c.stats.malformed.Add(1)
		return nil, err
	}
	c.stats.forwarded.Add(1)
	c.stats.lastForward.Store(time.Now().UnixNano())
	switch op {
	case opStatus:
		return encodeReply(stOK, encodeStatus(c.raft.LastIndex(), c.raft.CurrentTerm())), nil
	case opContact:
		return encodeReply(stOK, encodeContact(c.contact())), nil
	case opContactLog:
		return encodeReply(stOK, encodeContactLog(c.contactLog())), nil
	}
	if !c.IsLeader() {
		return []byte{stNotLeader}, nil
	}
	st, resp := c.local(op, body)
	return encodeReply(st, resp), nil
}

// local runs op on this node, which believes it is the leader.
func (c *Core) local(op byte, body []byte) (byte, []byte) {
	switch op {
	case opApply:
		select {
		case <-c.shutdownCh:
			// Not proposed: Raft's answer after its shutdown
			// (ErrRaftShutdown) could not be told from an entry's
			// accepted before it.
			return stNotLeader, nil
		default:
		}
		if c.deps.Screener != nil {
			if refusal := c.deps.Screener.Screen(body); refusal != nil {
				c.stats.screened.Add(1)
				return stOK, refusal
			}
		}
		// The checksum lets every replica's FSM tell the command it
		// applies from the one proposed (wire.VerifyChecksum).
		f := c.raft.ApplyLog(raft.Log{Data: body, Extensions: wire.Checksum(body)}, c.cfg.ApplyTimeout)
		if err := c.await(f); err != nil {
			return applyErrStatus(err)
		}
		switch r := f.Response().(type) {
		case nil:
			return stOK, nil
		case []byte:
			return stOK, r
		case error:
			// The entry is committed; this node's state machine could not
			// apply it (halted on a checksum mismatch): its effect on the
			// cluster is not this node's to report, and a retry could apply
			// it twice.
			return stUnknown, []byte(r.Error())
		default:
			return stError, []byte(fmt.Sprintf("fsm returned %T, want []byte", r))
		}
	case opQuery:
		mode, q, err := decodeQuery(body)
		if err != nil {
			c.stats.malformed.Add(1)
			return stError, []byte("malformed query")
		}
		if mode != ReadStale {
			if mode == ReadConsistent {
				if err := c.verifyLeader(); err != nil {
					if errors.Is(err, errVerifyTimeout) {
						return stUnavailable, []byte(err.Error())
					}
					return applyErrStatus(err)
				}
			}
			if c.readyTerm.Load() != c.raft.CurrentTerm() || !c.IsLeader() {
				// Leadership not yet established (barrier pending): the
				// FSM may miss entries committed by the previous leader.
				return stUnavailable, []byte("leader has not yet applied its predecessor's entries")
			}
		}
		resp, err := c.deps.Querier.Query(q)
		if err != nil {
			return stError, []byte(err.Error())
		}
		return stOK, resp
	case opConfig:
		return stOK, encodeServers(c.Status().Servers)
	case opRemove:
		id := string(body)
		c.mu.Lock()
		c.removed[id] = c.now()
		c.mu.Unlock()
		if err := c.await(c.raft.RemoveServer(raft.ServerID(id), 0, c.cfg.ApplyTimeout)); err != nil {
			return applyErrStatus(err)
		}
		c.log.Info().Str("peer", id).Msg("removed server")
		return stOK, nil
	}
	return stError, []byte("unknown op")
}

// errVerifyTimeout: the leader could not confirm its leadership with a
// quorum within the apply timeout.
var errVerifyTimeout = errors.New("raftcore: leadership not confirmed by a quorum in time")

// verifyLeader confirms leadership with a quorum round, bounded by the apply
// timeout and by shutdown. hashicorp/raft answers the future only once a
// quorum replies or leadership is lost; a read must not wait on that longer
// than a write would (seen: a consistent read parked for 11 minutes in a
// loaded chaos run). Nothing was proposed, so giving up is safe to retry.
//
// Concurrent reads share rounds (etcd's ReadIndex batching): a read joins
// the next round to start, never one already in flight (that one may have
// begun before the read arrived, and so cannot vouch for it), and one
// round answers every read that joined it. So consistent-read throughput
// grows with the readers, at one quorum round per round trip.
func (c *Core) verifyLeader() error {
	c.verify.mu.Lock()
	r := c.verify.next
	if r == nil {
		r = &verifyRound{done: make(chan struct{})}
		c.verify.next = r
	}
	r.reads++
	if !c.verify.running {
		c.verify.running = true
		c.verify.next = nil
		go c.runVerifyRounds(r)
	}
	c.verify.mu.Unlock()

	t := time.NewTimer(c.cfg.ApplyTimeout)
	defer t.Stop()
	select {
	case <-r.done:
		return r.err
	case <-t.C:
		return errVerifyTimeout
	case <-c.shutdownCh:
		return ErrShutdown
	}
}

// verifyRounds is the state of the shared leadership confirmations.
type verifyRounds struct {
	mu      sync.Mutex
	running bool         // a goroutine runs rounds
	next    *verifyRound // the round new reads join; nil until one does
}

// verifyRound is one quorum round and the reads that wait for it.
type verifyRound struct {
	done  chan struct{} // closed when err is set
	err   error
	reads int // reads that joined it (under verifyRounds.mu)
}

// runVerifyRounds runs r, then the round that reads joined meanwhile, and
// so on until no read waits. A round that raft leaves unanswered for the
// apply timeout fails errVerifyTimeout (its future is left to a goroutine
// that holds only it, as in await).
func (c *Core) runVerifyRounds(r *verifyRound) {
	for r != nil {
		f := c.raft.VerifyLeader()
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		t := time.NewTimer(c.cfg.ApplyTimeout)
		select {
		case r.err = <-done:
		case <-t.C:
			r.err = errVerifyTimeout
		case <-c.shutdownCh:
			r.err = ErrShutdown
		}
		t.Stop()
		close(r.done)

		c.verify.mu.Lock()
		r, c.verify.next = c.verify.next, nil
		if r == nil {
			c.verify.running = false
		}
		c.verify.mu.Unlock()
	}
}

// errStoppedInFlight: the core shut down before Raft answered for an entry
// it had accepted, which may have committed.
var errStoppedInFlight = errors.New("raftcore: shut down before the entry's outcome was known")

// await waits for the future of an entry this node proposed: a command, the
// leader's barrier, or a configuration change of the reconciler or of
// RemoveServer. hashicorp/raft never answers the future of an entry it had
// committed but not yet applied when it shut down (hashicorp/raft#498), and
// a wait on it would block the caller, a forwarded request's handler (and
// so the mesh's Close) or the leader loop (and so Run) for ever. So the
// wait also ends when the core shuts down. The goroutine left behind on
// such a future holds only that future.
func (c *Core) await(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-c.shutdownCh:
		select {
		case err := <-done:
			return err
		default:
			return errStoppedInFlight
		}
	}
}

// applyErrStatus classifies a Raft error: those raised before the entry was
// accepted are safe to retry; those raised after are of unknown outcome.
func applyErrStatus(err error) (byte, []byte) {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return stNotLeader, nil
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return stUnavailable, []byte(err.Error())
	default:
		// ErrLeadershipLost, ErrAbortedByRestore, and ErrRaftShutdown:
		// hashicorp/raft also answers an entry it had already accepted
		// (perhaps committed) with ErrRaftShutdown, so a retry could apply
		// it twice.
		return stUnknown, []byte(err.Error())
	}
}

// Servers returns the Raft configuration: this node's own copy on a member,
// the leader's on a client (which holds no replica).
func (c *Core) Servers(ctx context.Context) ([]Server, error) {
	if c.member.Load() {
		return c.Status().Servers, nil
	}
	resp, err := c.call(ctx, opConfig, nil)
	if err != nil {
		return nil, err
	}
	servers, err := decodeServers(resp)
	if err != nil {
		c.stats.malformed.Add(1)
		return nil, err
	}
	return servers, nil
}
