package raftcore

import (
	"sort"
	"time"
)

// Candidate is one node as the planner sees it: its gossip state and the
// settings it advertises.
type Candidate struct {
	ID       string
	Addr     string
	Alive    bool // alive in gossip
	Eligible bool // raft.eligible and raft.role auto
	Priority int  // lower is preferred
	Domain   string
	// AliveSince is when the node was first seen alive, continuously, by
	// this leader; the zero time if not alive.
	AliveSince time.Time
	// ClusterID is the cluster ID the node advertises, "" if it has none
	// yet (a new node learns it once it is added).
	ClusterID string
	// Admitted: an operator admitted the node (manual admission).
	Admitted bool
}

// Member is one entry of the current Raft configuration.
type Member struct {
	ID     string
	Addr   string
	Voter  bool
	Silent bool // the leader's heartbeats to it have been failing
	// CaughtUpSince is when the leader first found this standby's log
	// caught up with its own, continuously since; the zero time if it is
	// not caught up (or was not asked). Only standbys are asked.
	CaughtUpSince time.Time
}

// Policy bounds the core.
type Policy struct {
	MaxVoters     int           // odd
	MaxStandbys   int           // >= 0
	Stabilization time.Duration // how long a new node must be alive before it joins the core
	MinQuorum     int           // dead-voter removal never takes the voters below this
	Leader        string        // the leader's ID (never demoted or removed in place)
	// ClusterID is the leader's cluster ID: a node advertising another
	// one is never a candidate (and counts as gone).
	ClusterID string
	// ManualAdmission: a node that is not in the configuration is a
	// candidate only once an operator has admitted it.
	ManualAdmission bool
	Now             time.Time
}

// ChangeKind is one configuration change.
type ChangeKind int

const (
	// AddVoter adds a node as a voter, or promotes a standby.
	AddVoter ChangeKind = iota + 1
	// AddStandby adds a node as a non-voter.
	AddStandby
	// UpdateAddr re-adds a member with its new address, same suffrage.
	UpdateAddr
	// Demote turns a voter into a standby.
	Demote
	// Remove takes a node out of the configuration (it becomes a client).
	Remove
	// TransferLeadership hands leadership to ID before the leader would
	// demote or remove itself; the plan stops there.
	TransferLeadership
)

func (k ChangeKind) String() string {
	switch k {
	case AddVoter:
		return "add-voter"
	case AddStandby:
		return "add-standby"
	case UpdateAddr:
		return "update-address"
	case Demote:
		return "demote"
	case Remove:
		return "remove"
	case TransferLeadership:
		return "transfer-leadership"
	}
	return "unknown"
}

// Change is one step of a plan.
type Change struct {
	Kind  ChangeKind
	ID    string
	Addr  string
	Voter bool // for UpdateAddr: keep as voter
}

// Plan is the target core and the ordered changes that reach it.
type Plan struct {
	Voters   []string // target voters, by rank
	Standbys []string // target standbys, by rank
	Changes  []Change
	// Recheck, if not zero, is when a node still waiting out its
	// stabilisation window becomes ready: the leader plans again then.
	Recheck time.Time
	// Staged are the nodes the core would make voters if they were ready
	// (a standby not yet found caught up has no Recheck time: it waits on
	// the leader's next probe). The core has not formed while any is.
	Staged []string
}

// plan computes the target voters and standbys from the candidates and the
// current configuration, and the minimal changes to get there, ordered so
// that quorum is kept at every step: additions and promotions first, then
// demotions, then removals. It is a pure function: every node computes the
// same plan from the same inputs.
func plan(cands []Candidate, members []Member, p Policy) Plan {
	cur := make(map[string]Member, len(members))
	voters := 0
	for _, m := range members {
		cur[m.ID] = m
		if m.Voter {
			voters++
		}
	}
	// A node of another cluster is not a candidate, and is treated as
	// gone (gossip refuses to merge with it too).
	own := cands[:0:0]
	for _, c := range cands {
		if p.ClusterID != "" && c.ClusterID != "" && c.ClusterID != p.ClusterID {
			continue
		}
		own = append(own, c)
	}
	cands = own

	// 1. Candidates: eligible, and alive — or a member that Raft still
	// reaches (dead in gossip alone is not enough to lose a seat: rule 7
	// evicts only voters that are both dead in gossip and silent in Raft).
	// A node outside the configuration must have been alive for the
	// stabilisation window, whatever the size of the core (the voters of a
	// new cluster come from bootstrap, not from here), and, with manual
	// admission, admitted by an operator.
	var recheck time.Time
	later := func(t time.Time) {
		if t.After(p.Now) && (recheck.IsZero() || t.Before(recheck)) {
			recheck = t
		}
	}
	var ranked []Candidate
	for _, c := range cands {
		m, inConfig := cur[c.ID]
		switch {
		case !c.Eligible:
			continue
		case inConfig && (c.Alive || !m.Silent):
			ranked = append(ranked, c)
		case !inConfig && c.Alive && c.Addr != "" && (c.Admitted || !p.ManualAdmission):
			if stable := c.AliveSince.Add(p.Stabilization); !p.Now.Before(stable) {
				ranked = append(ranked, c)
			} else {
				later(stable)
			}
		}
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].Priority != ranked[j].Priority {
			return ranked[i].Priority < ranked[j].Priority
		}
		return ranked[i].ID < ranked[j].ID
	})

	// A voter keeps its seat; a standby may take one only once it has been
	// alive in gossip and caught up with the leader's log for the
	// stabilisation window. A node outside the configuration never becomes
	// a voter at once: it is staged as a standby first.
	ready := func(c Candidate) bool {
		m, ok := cur[c.ID]
		switch {
		case !ok:
			return false
		case m.Voter:
			return true
		case !c.Alive || m.Silent || m.CaughtUpSince.IsZero():
			return false
		}
		since := m.CaughtUpSince
		if c.AliveSince.After(since) {
			since = c.AliveSince
		}
		if at := since.Add(p.Stabilization); p.Now.Before(at) {
			later(at)
			return false
		}
		return true
	}
	var readyRanked []Candidate
	for _, c := range ranked {
		if ready(c) {
			readyRanked = append(readyRanked, c)
		}
	}
	odd := func(n int) int {
		n = min(p.MaxVoters, n)
		if n%2 == 0 {
			n--
		}
		return n
	}

	// 2-4. Voters (odd count, spread over failure domains, hysteresis) from
	// the ready nodes; then the standbys: the nodes the core would make
	// voters if they were ready (staged, beyond max_standbys, so that they
	// catch up), and max_standbys of the rest.
	isVoter := func(c Candidate) bool { return cur[c.ID].Voter }
	isStandby := func(c Candidate) bool { m, ok := cur[c.ID]; return ok && !m.Voter }
	// The voter count is what all candidates allow; while staged nodes
	// catch up, the ready ones may fall short. Then an even count of
	// current voters is kept rather than a healthy voter demoted (and
	// promoted again a window later), but no standby is promoted to an
	// even count.
	target := odd(len(ranked))
	// A dead voter keeps its seat when losing it would only cost a live
	// voter its vote: with an even number of live voters, every one
	// seated and ready, removing the dead one leaves an even count and
	// the odd rule then demotes a live voter. The live voters' fault
	// tolerance is the same either way (2 of 3 with one dead, or 1 of 1);
	// keeping the seat saves the churn, and a voter that comes back (a
	// restart, a new address) votes again at once instead of after two
	// stabilisation windows.
	padded := ""
	if n := len(ranked); n%2 == 0 && n > 0 && n < p.MaxVoters && len(readyRanked) == n {
		all := true
		for _, c := range readyRanked {
			all = all && isVoter(c)
		}
		live := map[string]bool{}
		for _, c := range ranked {
			live[c.ID] = true
		}
		// Only a dead voter pads: not one that is alive but no longer
		// eligible (it is leaving the core on purpose).
		gone := map[string]bool{}
		for _, c := range cands {
			gone[c.ID] = !c.Alive && c.Eligible
		}
		for _, m := range sortedMembers(members) {
			dead := gone[m.ID]
			if _, seen := gone[m.ID]; !seen {
				dead = true // gossip forgot it
			}
			if all && m.Voter && dead && !live[m.ID] && m.ID != p.Leader {
				padded, target = m.ID, n
				break
			}
		}
	}
	k := min(target, len(readyRanked))
	if k%2 == 0 {
		seated := 0
		for _, c := range readyRanked {
			if isVoter(c) {
				seated++
			}
		}
		if seated < k {
			k--
		}
	}
	vs, _ := pick(readyRanked, k, k, isVoter)
	ideal, _ := pick(ranked, target, target, isVoter)
	seated := map[string]bool{}
	for _, c := range vs {
		seated[c.ID] = true
	}
	var staged, rest []Candidate
	for _, c := range ideal {
		if !seated[c.ID] {
			staged = append(staged, c)
			seated[c.ID] = true
		}
	}
	for _, c := range ranked {
		if !seated[c.ID] {
			rest = append(rest, c)
		}
	}
	// Every current standby is a keeper, whatever its rank: swapping a
	// standby for a better-ranked newcomer gains nothing (neither votes)
	// and costs a full log copy to the newcomer, and leaves the old one a
	// client holding a stale log. Nodes reach their stabilisation window
	// one by one, so without this the first ones ready would take the
	// seats and be unseated as better-ranked ones caught up.
	nss := min(p.MaxStandbys, len(rest))
	ss, _ := pick(rest, nss, len(rest), isStandby)
	ss = append(staged, ss...)
	sort.SliceStable(ss, func(i, j int) bool { return rankOf(ranked, ss[i].ID) < rankOf(ranked, ss[j].ID) })

	var out Plan
	for _, c := range staged {
		out.Staged = append(out.Staged, c.ID)
	}
	role := map[string]string{}
	for _, c := range vs {
		out.Voters = append(out.Voters, c.ID)
		role[c.ID] = "voter"
	}
	if padded != "" {
		out.Voters = append(out.Voters, padded)
		sort.Strings(out.Voters)
		role[padded] = "voter"
	}
	for _, c := range ss {
		out.Standbys = append(out.Standbys, c.ID)
		role[c.ID] = "standby"
	}

	// The leader never demotes or removes itself: it hands leadership to
	// the best target voter that already votes, and the next leader plans
	// again.
	if m, ok := cur[p.Leader]; ok && m.Voter && role[p.Leader] != "voter" {
		for _, c := range vs {
			if cur[c.ID].Voter && c.ID != p.Leader {
				out.Changes = []Change{{Kind: TransferLeadership, ID: c.ID, Addr: cur[c.ID].Addr}}
				out.Recheck = recheck
				return out
			}
		}
		// No voting successor yet: keep the leader's seat this round.
		role[p.Leader] = "voter"
	}

	// 6. Changes in quorum-preserving order: additions and promotions,
	// address updates, removal of dead voters (which only lowers the quorum
	// the live ones must reach), demotions, then the other removals.
	addrOf := map[string]string{}
	alive := map[string]bool{}
	for _, c := range cands {
		addrOf[c.ID] = c.Addr
		alive[c.ID] = c.Alive && c.Eligible
	}
	var changes []Change
	for _, c := range vs {
		if m, ok := cur[c.ID]; !ok || !m.Voter {
			changes = append(changes, Change{Kind: AddVoter, ID: c.ID, Addr: c.Addr})
		}
	}
	for _, c := range ss {
		if _, ok := cur[c.ID]; !ok {
			changes = append(changes, Change{Kind: AddStandby, ID: c.ID, Addr: c.Addr})
		}
	}
	sorted := sortedMembers(members)
	for _, m := range sorted {
		if a := addrOf[m.ID]; a != "" && a != m.Addr && role[m.ID] != "" {
			changes = append(changes, Change{Kind: UpdateAddr, ID: m.ID, Addr: a, Voter: role[m.ID] == "voter"})
		}
	}
	// 9. Voters leave the core at most (n-1)/2 per plan (n = voters after
	// the additions), and never below MinQuorum.
	votersAfter := voters
	for _, ch := range changes {
		if ch.Kind == AddVoter {
			votersAfter++
		}
	}
	budget := (votersAfter - 1) / 2
	removeVoter := func(m Member) bool {
		if budget == 0 || votersAfter-1 < p.MinQuorum {
			return false
		}
		budget--
		votersAfter--
		return true
	}
	for _, m := range sorted {
		if m.Voter && role[m.ID] == "" && !alive[m.ID] && removeVoter(m) {
			changes = append(changes, Change{Kind: Remove, ID: m.ID})
		}
	}
	for _, m := range sorted {
		if m.Voter && role[m.ID] == "standby" {
			changes = append(changes, Change{Kind: Demote, ID: m.ID})
		}
	}
	for _, m := range sorted {
		if role[m.ID] != "" || (m.Voter && !alive[m.ID]) {
			continue
		}
		if m.Voter && !removeVoter(m) {
			continue
		}
		changes = append(changes, Change{Kind: Remove, ID: m.ID})
	}
	out.Changes = quorumSafe(members, alive, changes)
	out.Recheck = recheck
	return out
}

// rankOf is the position of id in ranked.
func rankOf(ranked []Candidate, id string) int {
	for i, c := range ranked {
		if c.ID == id {
			return i
		}
	}
	return len(ranked)
}

// quorumSafe replays changes on the current configuration and keeps only
// those after which the live voters are still a majority of all voters:
// whatever the plan wanted, no step may leave the cluster without quorum.
func quorumSafe(members []Member, alive map[string]bool, changes []Change) []Change {
	voter := map[string]bool{}
	for _, m := range members {
		voter[m.ID] = m.Voter
	}
	ok := func(v map[string]bool) bool {
		n, live := 0, 0
		for id, isVoter := range v {
			if isVoter {
				n++
				if alive[id] {
					live++
				}
			}
		}
		return n == 0 || live > n/2
	}
	var out []Change
	for _, ch := range changes {
		next := make(map[string]bool, len(voter)+1)
		for k, v := range voter {
			next[k] = v
		}
		switch ch.Kind {
		case AddVoter:
			next[ch.ID] = true
		case AddStandby:
			next[ch.ID] = false
		case Demote:
			next[ch.ID] = false
		case Remove:
			delete(next, ch.ID)
		}
		if !ok(next) && ok(voter) {
			continue
		}
		voter = next
		out = append(out, ch)
	}
	return out
}

// pick chooses n candidates from ranked (best first), spread over failure
// domains, with hysteresis. A keeper is a node that already holds the role
// (has) and is ranked within keep+1 overall: a better node joining does not
// unseat it for no gain. The seats go:
//  1. one per domain, the domains that hold a keeper first (by their best
//     keeper), then the others (by their best node), each domain's keepers
//     before its newcomers; so spread improves only where a domain has no
//     seat yet and a seat is left for it;
//  2. to the remaining keepers, by rank;
//  3. round-robin over the domains in the same order, the next node of each
//     per round, so that no domain holds more seats than it must.
//
// It returns the chosen (in rank order) and the rest.
func pick(ranked []Candidate, n, keep int, has func(Candidate) bool) (chosen, rest []Candidate) {
	if n <= 0 {
		return nil, ranked
	}
	keeper := func(i int) bool { return has(ranked[i]) && i <= keep }
	var order []string
	queue := map[string][]int{}
	for _, keepersPass := range []bool{true, false} {
		for i, c := range ranked {
			if keepersPass && !keeper(i) {
				continue
			}
			if _, ok := queue[c.Domain]; !ok {
				order = append(order, c.Domain)
				queue[c.Domain] = nil
			}
		}
	}
	for i, c := range ranked {
		queue[c.Domain] = append(queue[c.Domain], i)
	}
	for _, d := range order {
		q := queue[d]
		sort.SliceStable(q, func(a, b int) bool { return keeper(q[a]) && !keeper(q[b]) })
	}
	taken := make([]bool, len(ranked))
	count := 0
	take := func(d string) {
		for len(queue[d]) > 0 && taken[queue[d][0]] {
			queue[d] = queue[d][1:]
		}
		if count == n || len(queue[d]) == 0 {
			return
		}
		taken[queue[d][0]] = true
		queue[d] = queue[d][1:]
		count++
	}
	for _, d := range order {
		take(d)
	}
	for i := range ranked {
		if count < n && !taken[i] && keeper(i) {
			taken[i] = true
			count++
		}
	}
	for count < n {
		before := count
		for _, d := range order {
			take(d)
		}
		if count == before {
			break
		}
	}
	for i, c := range ranked {
		if taken[i] {
			chosen = append(chosen, c)
		} else {
			rest = append(rest, c)
		}
	}
	return chosen, rest
}

func sortedMembers(ms []Member) []Member {
	out := append([]Member(nil), ms...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
