package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-dev/conclave/raftcore"
)

// Health check statuses. A check that warns does not fail its endpoint.
const (
	HealthPass = "pass"
	HealthWarn = "warn"
	HealthFail = "fail"
)

// HealthCheck is one named check of the node's health (DESIGN §12). The
// node has the built-in ones (gossip, raft_contact; leader and fsm for
// readiness); other planes add theirs with AddHealthCheck, for example the
// process-group heartbeat.
type HealthCheck struct {
	// Name is the check's name in /v1/health/* output: lower-case, no spaces.
	Name string
	// ReadyOnly makes the check part of readiness only. Liveness checks
	// (the default) are part of both: a node that should be restarted is
	// not ready either.
	ReadyOnly bool
	// Check reports the status (HealthPass, HealthWarn or HealthFail) and a
	// reason an operator can act on. Called from HTTP handler goroutines,
	// concurrently; it must not block (read state, do not ask peers).
	Check func(now time.Time) (status, reason string)
}

// CheckResult is one check's outcome.
type CheckResult struct {
	Name   string
	Status string // pass | warn | fail
	Reason string
}

// healthTimings are the thresholds of the built-in checks (DESIGN §14);
// local timings for tests.
type healthTimings struct {
	// heartbeatCeiling: with peers alive in gossip, no process-group
	// heartbeat from any of them for this long fails the groups check:
	// the node cannot exchange group traffic (DESIGN §14: 5 min).
	heartbeatCeiling time.Duration
	// maxGossipScore: memberlist's health (awareness) score above this
	// fails the gossip check: the node misses its own probe deadlines, so
	// its view of who is alive is not to be trusted.
	maxGossipScore int
	// bootGrace: after start, a high gossip score only warns (the node is
	// still joining) and a Raft member that has never heard from a leader
	// is not failed for it.
	bootGrace time.Duration
	// voterContact: a voting follower without contact from the leader this
	// long fails raft_contact: it cannot take part in elections usefully.
	voterContact time.Duration
	// standbyContact: the same for a standby, which only replicates and
	// tolerates longer gaps.
	standbyContact time.Duration
	// fsmSample is the interval of the FSM catch-up sampler: readiness
	// needs every entry known committed one to two samples ago applied.
	fsmSample time.Duration
}

var (
	defaultHealth = healthTimings{
		heartbeatCeiling: 5 * time.Minute,
		maxGossipScore:   4,
		bootGrace:        60 * time.Second,
		voterContact:     30 * time.Second,
		standbyContact:   5 * time.Minute,
		fsmSample:        time.Second,
	}
	localHealth = healthTimings{
		heartbeatCeiling: 10 * time.Second,
		maxGossipScore:   4,
		bootGrace:        2 * time.Second,
		voterContact:     3 * time.Second,
		standbyContact:   10 * time.Second,
		fsmSample:        200 * time.Millisecond,
	}
)

// health holds the node's checks and the FSM catch-up samples.
type health struct {
	t       healthTimings
	started time.Time

	mu    sync.Mutex
	extra []HealthCheck

	// commitPrev and commitCur are the commit index at the last two
	// samples: an FSM that has applied commitPrev applied everything that
	// was committed at least one sample interval ago.
	commitPrev, commitCur atomic.Uint64
	samples               atomic.Uint64
}

// AddHealthCheck adds a check to the node's liveness (and readiness)
// output, or to readiness only with c.ReadyOnly. Call it before the API
// serves; it is safe at any time.
func (n *Node) AddHealthCheck(c HealthCheck) {
	n.health.mu.Lock()
	defer n.health.mu.Unlock()
	n.health.extra = append(n.health.extra, c)
}

// Liveness runs the liveness checks: gossip and raft_contact, then any added
// ones. A failing liveness check means a supervisor should restart the node.
func (n *Node) Liveness() []CheckResult { return n.runChecks(false) }

// Readiness runs the liveness checks plus leader (a leader is known) and
// fsm (the local state machine has caught up), then any added ones. A node
// that is not ready should get no client traffic.
func (n *Node) Readiness() []CheckResult { return n.runChecks(true) }

func (n *Node) runChecks(ready bool) []CheckResult {
	now := time.Now()
	checks := []HealthCheck{
		{Name: "gossip", Check: n.checkGossip},
		{Name: "raft_contact", Check: n.checkRaftContact},
		{Name: "groups_heartbeat", Check: n.checkGroupHeartbeat},
		{Name: "leader", ReadyOnly: true, Check: n.checkLeader},
		{Name: "fsm", ReadyOnly: true, Check: n.checkFSM},
	}
	n.health.mu.Lock()
	checks = append(checks, n.health.extra...)
	n.health.mu.Unlock()
	out := make([]CheckResult, 0, len(checks))
	for _, c := range checks {
		if c.ReadyOnly && !ready {
			continue
		}
		status, reason := c.Check(now)
		out = append(out, CheckResult{Name: c.Name, Status: status, Reason: reason})
	}
	return out
}

// checkGroupHeartbeat: every node broadcasts a beat to the internal
// heartbeat group; a node with live peers that has heard none of them for
// the ceiling cannot carry group traffic. A node alone passes.
func (n *Node) checkGroupHeartbeat(now time.Time) (string, string) {
	peer, at := n.groups.LastBeat()
	ceiling := n.health.t.heartbeatCeiling
	since := at
	if since.IsZero() {
		since = n.health.started
	}
	switch {
	case n.ml.NumAlive() <= 1:
		return HealthPass, "no peers alive in gossip: nothing to hear from"
	case !at.IsZero() && now.Sub(at) <= ceiling:
		return HealthPass, fmt.Sprintf("last beat from %s %s ago (fails after %s)", peer, now.Sub(at).Round(time.Millisecond), ceiling)
	case now.Sub(since) <= ceiling || n.inBootGrace(now):
		return HealthWarn, fmt.Sprintf("no group heartbeat from any peer yet (fails %s after start)", ceiling)
	case at.IsZero():
		return HealthFail, fmt.Sprintf("no group heartbeat from any peer since start (%s ago): internode group traffic is not getting through", now.Sub(since).Round(time.Second))
	default:
		return HealthFail, fmt.Sprintf("no group heartbeat from any peer for %s (last from %s): internode group traffic is not getting through", now.Sub(at).Round(time.Second), peer)
	}
}

func (n *Node) inBootGrace(now time.Time) bool {
	return now.Sub(n.health.started) < n.health.t.bootGrace
}

func (n *Node) checkGossip(now time.Time) (string, string) {
	score, max := n.ml.HealthScore(), n.health.t.maxGossipScore
	alive := n.ml.NumAlive()
	switch {
	case score <= max:
		return HealthPass, fmt.Sprintf("health score %d (fails above %d); %d members alive", score, max, alive)
	case n.inBootGrace(now):
		return HealthWarn, fmt.Sprintf("health score %d above %d, within the %s boot grace", score, max, n.health.t.bootGrace)
	default:
		return HealthFail, fmt.Sprintf("health score %d above %d: this node misses its own probe deadlines (CPU starved or network loss)", score, max)
	}
}

// checkRaftContact: the leader passes, a client node is exempt (it is not
// in the Raft configuration), a voting follower fails after voterContact
// without hearing from a leader, a standby after standbyContact.
func (n *Node) checkRaftContact(now time.Time) (string, string) {
	st := n.core.Status()
	switch {
	case st.State == "shutdown":
		return HealthFail, "raft is shut down"
	case st.State == "leader":
		return HealthPass, fmt.Sprintf("leader in term %d", st.Term)
	case !st.Member:
		return HealthPass, "client node (not in the Raft configuration): exempt"
	}
	limit, role := n.health.t.voterContact, "voter"
	if !n.isVoter(st) {
		limit, role = n.health.t.standbyContact, "standby"
	}
	since := st.LastContact
	if since == 0 {
		// Never in contact since start: count from the start, after the
		// boot grace.
		if n.inBootGrace(now) {
			return HealthPass, fmt.Sprintf("%s, no leader contact yet, within the %s boot grace", role, n.health.t.bootGrace)
		}
		since = now.Sub(n.health.started)
	}
	if since > limit {
		return HealthFail, fmt.Sprintf("%s without leader contact for %s (limit %s)", role, since.Round(time.Millisecond), limit)
	}
	return HealthPass, fmt.Sprintf("%s, last leader contact %s ago (limit %s)", role, since.Round(time.Millisecond), limit)
}

func (n *Node) isVoter(st raftcore.Status) bool {
	for _, s := range st.Servers {
		if s.ID == n.Name() {
			return s.Suffrage == "voter"
		}
	}
	return false
}

// checkLeader: a Raft member needs a leader of its own; a client node one
// that the members advertise in gossip (it forwards to it).
func (n *Node) checkLeader(time.Time) (string, string) {
	st := n.core.Status()
	leader := st.LeaderID
	if !st.Member {
		leader = leaderName("", n.ml.Members())
	}
	if leader == "" {
		return HealthFail, "no known Raft leader: writes and default reads fail until one is elected"
	}
	if !st.Member {
		return HealthPass, fmt.Sprintf("leader %s, as Raft members advertise it", leader)
	}
	return HealthPass, fmt.Sprintf("leader %s in term %d", leader, st.Term)
}

// checkFSM passes when the FSM has applied every entry this node knew to be
// committed one to two sample intervals ago: a node restoring a snapshot
// or replaying a long log, or whose FSM is stuck, fails; a busy one whose
// applied index trails the commit index by the entries of the last
// milliseconds does not.
func (n *Node) checkFSM(time.Time) (string, string) {
	st := n.core.Status()
	if !st.Member {
		return HealthPass, "client node: no local replica, reads go to Raft members"
	}
	if n.health.samples.Load() < 2 {
		return HealthFail, "catch-up not measured yet"
	}
	want := n.health.commitPrev.Load()
	if st.AppliedIndex < want {
		return HealthFail, fmt.Sprintf("applied index %d behind commit index %d known %s ago (now %d)",
			st.AppliedIndex, want, n.health.t.fsmSample, st.CommitIndex)
	}
	return HealthPass, fmt.Sprintf("applied index %d, commit index %d", st.AppliedIndex, st.CommitIndex)
}

// healthLoop samples the commit index for the fsm check until ctx ends.
func (n *Node) healthLoop(ctx context.Context) {
	t := time.NewTicker(n.health.t.fsmSample)
	defer t.Stop()
	for {
		n.health.commitPrev.Store(n.health.commitCur.Load())
		n.health.commitCur.Store(n.core.CommitIndex())
		n.health.samples.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
