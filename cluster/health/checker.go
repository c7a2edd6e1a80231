package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Check statuses. A check that warns does not fail its endpoint.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
)

// Check is one named check of the node's health (DESIGN §12). The Checker
// has the built-in ones (gossip, raft_contact, groups_heartbeat; leader and
// fsm for readiness); other planes add theirs with Add.
type Check struct {
	// Name is the check's name in /v1/health/* output: lower-case, no spaces.
	Name string
	// ReadyOnly makes the check part of readiness only. Liveness checks
	// (the default) are part of both: a node that should be restarted is
	// not ready either.
	ReadyOnly bool
	// Check reports the status (Pass, Warn or Fail) and a reason an
	// operator can act on. Called from HTTP handler goroutines,
	// concurrently; it must not block (read state, do not ask peers).
	Check func(now time.Time) (status, reason string)
}

// Result is one check's outcome.
type Result struct {
	Name   string
	Status string // pass | warn | fail
	Reason string
}

// Deps are the Checker's collaborators, all required.
type Deps struct {
	Gossip Gossip
	Raft   Raft
	Groups Groups
	Disk   Disk
}

// Option configures a Checker.
type Option func(*Checker)

// WithClock sets the Checker's clock (default: the wall clock).
func WithClock(c Clock) Option { return func(h *Checker) { h.clock = c } }

// Checker runs a node's health checks. Its methods are safe for concurrent
// use.
type Checker struct {
	cfg     Config
	gossip  Gossip
	raft    Raft
	groups  Groups
	disk    Disk
	clock   Clock
	started time.Time // start of the boot grace: New's time

	mu    sync.Mutex
	extra []Check

	// commitPrev and commitCur are the commit index at the last two
	// samples: an FSM that has applied commitPrev applied everything that
	// was committed at least one sample interval ago.
	commitPrev, commitCur atomic.Uint64
	samples               atomic.Uint64
}

// New returns the checks of node cfg.Node; the boot grace starts now.
func New(cfg Config, deps Deps, opts ...Option) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("health: config: %w", err)
	}
	if deps.Gossip == nil || deps.Raft == nil || deps.Groups == nil || deps.Disk == nil {
		return nil, errors.New("health: New needs a gossip view, a Raft view, a groups view and a disk")
	}
	h := &Checker{cfg: cfg, gossip: deps.Gossip, raft: deps.Raft, groups: deps.Groups, disk: deps.Disk, clock: SystemClock{}}
	for _, o := range opts {
		o(h)
	}
	h.started = h.clock.Now()
	return h, nil
}

// Add adds a check to the liveness (and readiness) output, or to readiness
// only with c.ReadyOnly. Call it before the API serves; it is safe at any
// time.
func (h *Checker) Add(c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.extra = append(h.extra, c)
}

// Liveness runs the liveness checks: gossip, raft_contact and
// groups_heartbeat, then any added ones. A failing liveness check means a
// supervisor should restart the node.
func (h *Checker) Liveness() []Result { return h.run(false) }

// Readiness runs the liveness checks plus leader (a leader is known), fsm
// (the local state machine has caught up), raft_lag (a follower is not far
// behind the leader) and disk_free (the data dir's filesystem has room),
// then any added ones. A node that is not ready should get no client
// traffic.
func (h *Checker) Readiness() []Result { return h.run(true) }

func (h *Checker) run(ready bool) []Result {
	now := h.clock.Now()
	checks := []Check{
		{Name: "gossip", Check: h.checkGossip},
		{Name: "raft_contact", Check: h.checkRaftContact},
		{Name: "groups_heartbeat", Check: h.checkGroupHeartbeat},
		{Name: "leader", ReadyOnly: true, Check: h.checkLeader},
		{Name: "fsm", ReadyOnly: true, Check: h.checkFSM},
		{Name: "raft_lag", ReadyOnly: true, Check: h.checkRaftLag},
		{Name: "disk_free", ReadyOnly: true, Check: h.checkDiskFree},
	}
	h.mu.Lock()
	checks = append(checks, h.extra...)
	h.mu.Unlock()
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		if c.ReadyOnly && !ready {
			continue
		}
		status, reason := c.Check(now)
		out = append(out, Result{Name: c.Name, Status: status, Reason: reason})
	}
	return out
}

func (h *Checker) inBootGrace(now time.Time) bool {
	return now.Sub(h.started) < h.cfg.BootGrace
}

// checkGroupHeartbeat: every node broadcasts a beat to the internal
// heartbeat group; a node with live peers that has heard none of them for
// the ceiling cannot carry group traffic. A node alone passes.
func (h *Checker) checkGroupHeartbeat(now time.Time) (string, string) {
	peer, at := h.groups.LastBeat()
	ceiling := h.cfg.HeartbeatCeiling
	since := at
	if since.IsZero() {
		since = h.started
	}
	switch {
	case h.gossip.NumAlive() <= 1:
		return Pass, "no peers alive in gossip: nothing to hear from"
	case !at.IsZero() && now.Sub(at) <= ceiling:
		return Pass, fmt.Sprintf("last beat from %s %s ago (fails after %s)", peer, now.Sub(at).Round(time.Millisecond), ceiling)
	case now.Sub(since) <= ceiling || h.inBootGrace(now):
		return Warn, fmt.Sprintf("no group heartbeat from any peer yet (fails %s after start)", ceiling)
	case at.IsZero():
		return Fail, fmt.Sprintf("no group heartbeat from any peer since start (%s ago): internode group traffic is not getting through", now.Sub(since).Round(time.Second))
	default:
		return Fail, fmt.Sprintf("no group heartbeat from any peer for %s (last from %s): internode group traffic is not getting through", now.Sub(at).Round(time.Second), peer)
	}
}

func (h *Checker) checkGossip(now time.Time) (string, string) {
	score, max := h.gossip.HealthScore(), h.cfg.MaxGossipScore
	alive := h.gossip.NumAlive()
	switch {
	case score <= max:
		return Pass, fmt.Sprintf("health score %d (fails above %d); %d members alive", score, max, alive)
	case h.inBootGrace(now):
		return Warn, fmt.Sprintf("health score %d above %d, within the %s boot grace", score, max, h.cfg.BootGrace)
	default:
		return Fail, fmt.Sprintf("health score %d above %d: this node misses its own probe deadlines (CPU starved or network loss)", score, max)
	}
}

// checkRaftContact: the leader passes, a client node is exempt (it is not
// in the Raft configuration), a voting follower fails after VoterContact
// without hearing from a leader, a standby after StandbyContact.
func (h *Checker) checkRaftContact(now time.Time) (string, string) {
	st := h.raft.Status()
	switch {
	case st.State == "shutdown":
		return Fail, "raft is shut down"
	case st.State == "leader":
		return Pass, fmt.Sprintf("leader in term %d", st.Term)
	case !st.Member:
		return Pass, "client node (not in the Raft configuration): exempt"
	}
	limit, role := h.cfg.VoterContact, "voter"
	if !h.isVoter(st) {
		limit, role = h.cfg.StandbyContact, "standby"
	}
	since := st.LastContact
	if since == 0 {
		// Never in contact since start: count from the start, after the
		// boot grace.
		if h.inBootGrace(now) {
			return Pass, fmt.Sprintf("%s, no leader contact yet, within the %s boot grace", role, h.cfg.BootGrace)
		}
		since = now.Sub(h.started)
	}
	if since > limit {
		return Fail, fmt.Sprintf("%s without leader contact for %s (limit %s)", role, since.Round(time.Millisecond), limit)
	}
	return Pass, fmt.Sprintf("%s, last leader contact %s ago (limit %s)", role, since.Round(time.Millisecond), limit)
}

func (h *Checker) isVoter(st RaftStatus) bool {
	for _, s := range st.Servers {
		if s.ID == h.cfg.Node {
			return s.Suffrage == "voter"
		}
	}
	return false
}

// checkLeader: a Raft member needs a leader of its own; a client node one
// that the members advertise in gossip (it forwards to it).
func (h *Checker) checkLeader(time.Time) (string, string) {
	st := h.raft.Status()
	leader := st.LeaderID
	if !st.Member {
		leader = h.gossip.AdvertisedLeader()
	}
	if leader == "" {
		return Fail, "no known Raft leader: writes and default reads fail until one is elected"
	}
	if !st.Member {
		return Pass, fmt.Sprintf("leader %s, as Raft members advertise it", leader)
	}
	return Pass, fmt.Sprintf("leader %s in term %d", leader, st.Term)
}

// checkFSM passes when the FSM has applied every entry this node knew to be
// committed one to two sample intervals ago: a node restoring a snapshot
// or replaying a long log, or whose FSM is stuck, fails; a busy one whose
// applied index trails the commit index by the entries of the last
// milliseconds does not.
func (h *Checker) checkFSM(time.Time) (string, string) {
	st := h.raft.Status()
	if !st.Member {
		return Pass, "client node: no local replica, reads go to Raft members"
	}
	if h.samples.Load() < 2 {
		return Fail, "catch-up not measured yet"
	}
	want := h.commitPrev.Load()
	if st.AppliedIndex < want {
		return Fail, fmt.Sprintf("applied index %d behind commit index %d known %s ago (now %d)",
			st.AppliedIndex, want, h.cfg.FSMSample, st.CommitIndex)
	}
	return Pass, fmt.Sprintf("applied index %d, commit index %d", st.AppliedIndex, st.CommitIndex)
}

// checkRaftLag: a Raft follower (voter or standby) fails when its applied
// index trails the commit index it knows by more than MaxLagEntries, or
// when it has had no leader contact for more than MaxLagTime (a member
// never in contact is counted from start, after the boot grace). The
// reason names the limit passed. The leader and client nodes are exempt.
func (h *Checker) checkRaftLag(now time.Time) (string, string) {
	st := h.raft.Status()
	switch {
	case st.State == "shutdown":
		return Fail, "raft is shut down"
	case st.State == "leader":
		return Pass, "leader: exempt (followers lag behind it)"
	case !st.Member:
		return Pass, "client node (not in the Raft configuration): exempt"
	}
	var behind uint64
	if st.CommitIndex > st.AppliedIndex {
		behind = st.CommitIndex - st.AppliedIndex
	}
	if behind > h.cfg.MaxLagEntries {
		return Fail, fmt.Sprintf("applied index %d trails commit index %d by %d entries (max_lag_entries %d)",
			st.AppliedIndex, st.CommitIndex, behind, h.cfg.MaxLagEntries)
	}
	since := st.LastContact
	if since == 0 {
		if h.inBootGrace(now) {
			return Pass, fmt.Sprintf("%d entries behind (limit %d); no leader contact yet, within the %s boot grace",
				behind, h.cfg.MaxLagEntries, h.cfg.BootGrace)
		}
		since = now.Sub(h.started)
	}
	if since > h.cfg.MaxLagTime {
		return Fail, fmt.Sprintf("no leader contact for %s (max_lag_time %s)", since.Round(time.Millisecond), h.cfg.MaxLagTime)
	}
	return Pass, fmt.Sprintf("%d entries behind (limit %d); last leader contact %s ago (limit %s)",
		behind, h.cfg.MaxLagEntries, since.Round(time.Millisecond), h.cfg.MaxLagTime)
}

// checkDiskFree: the filesystem holding the data dir has at least
// MinDiskFree bytes free; below twice that it warns, so an operator hears
// before Raft's writes start failing.
func (h *Checker) checkDiskFree(time.Time) (string, string) {
	free, total, err := h.disk.Free(h.cfg.DataDir)
	if errors.Is(err, errors.ErrUnsupported) {
		return Warn, fmt.Sprintf("free space not measured on this platform: %v", err)
	}
	if err != nil {
		return Fail, fmt.Sprintf("cannot read the free space of the data dir: %v", err)
	}
	limit := h.cfg.MinDiskFree
	switch {
	case free < limit:
		return Fail, fmt.Sprintf("%s free of %s on the filesystem of %s (fails below %s): Raft's log and snapshot writes will fail; free space or grow the disk",
			formatBytes(free), formatBytes(total), h.cfg.DataDir, formatBytes(limit))
	case free < 2*limit:
		return Warn, fmt.Sprintf("%s free of %s on the filesystem of %s (warns below %s, fails below %s)",
			formatBytes(free), formatBytes(total), h.cfg.DataDir, formatBytes(2*limit), formatBytes(limit))
	default:
		return Pass, fmt.Sprintf("%s free of %s on the filesystem of %s (fails below %s)",
			formatBytes(free), formatBytes(total), h.cfg.DataDir, formatBytes(limit))
	}
}

// formatBytes writes n in binary units, one decimal: "64.0 MiB".
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Run samples the commit index for the fsm check, at once and then every
// Config.FSMSample, until ctx ends; it returns nil then.
func (h *Checker) Run(ctx context.Context) error {
	for {
		h.sample()
		select {
		case <-ctx.Done():
			return nil
		case <-h.clock.After(h.cfg.FSMSample):
		}
	}
}

// sample shifts the commit-index samples by one.
func (h *Checker) sample() {
	h.commitPrev.Store(h.commitCur.Load())
	h.commitCur.Store(h.raft.CommitIndex())
	h.samples.Add(1)
}
