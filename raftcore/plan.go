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
}

// Member is one entry of the current Raft configuration.
type Member struct {
	ID     string
	Addr   string
	Voter  bool
	Silent bool // the leader's heartbeats to it have been failing
}

// Policy bounds the core.
type Policy struct {
	MaxVoters     int           // odd
	MaxStandbys   int           // >= 0
	Stabilization time.Duration // how long a new node must be alive before it joins the core
	MinQuorum     int           // dead-voter removal never takes the voters below this
	Leader        string        // the leader's ID (never demoted or removed in place)
	Now           time.Time
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

	// 1. Candidates: eligible, and alive — or a member that Raft still
	// reaches (dead in gossip alone is not enough to lose a seat: rule 7
	// evicts only voters that are both dead in gossip and silent in Raft).
	// New nodes must also be stable, unless the core is under-provisioned
	// (bootstrap, or after losses): then filling it matters more than
	// guarding against a flapping node.
	var ranked []Candidate
	var fresh []Candidate
	for _, c := range cands {
		m, inConfig := cur[c.ID]
		switch {
		case !c.Eligible:
			continue
		case inConfig && (c.Alive || !m.Silent):
			ranked = append(ranked, c)
		case !inConfig && c.Alive && c.Addr != "":
			if p.Now.Sub(c.AliveSince) >= p.Stabilization {
				ranked = append(ranked, c)
			} else {
				fresh = append(fresh, c)
			}
		}
	}
	byRank := func(cs []Candidate) {
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].Priority != cs[j].Priority {
				return cs[i].Priority < cs[j].Priority
			}
			return cs[i].ID < cs[j].ID
		})
	}
	byRank(ranked)
	if len(fresh) > 0 && len(ranked) < p.MaxVoters+p.MaxStandbys {
		ranked = append(ranked, fresh...)
		byRank(ranked)
	}

	// 2-4. Voters (odd count, spread over failure domains, hysteresis),
	// then standbys from the rest.
	target := min(p.MaxVoters, len(ranked))
	if target%2 == 0 {
		target--
	}
	isVoter := func(c Candidate) bool { return cur[c.ID].Voter }
	vs, rest := pick(ranked, target, isVoter)
	isStandby := func(c Candidate) bool { m, ok := cur[c.ID]; return ok && !m.Voter }
	ss, _ := pick(rest, min(p.MaxStandbys, len(rest)), isStandby)

	var out Plan
	role := map[string]string{}
	for _, c := range vs {
		out.Voters = append(out.Voters, c.ID)
		role[c.ID] = "voter"
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
	return out
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
// domains: round-robin over the domains (ordered by their best node), the
// next node of each domain per round, so no domain holds more seats than it
// must. Hysteresis: within its domain, a node that already holds the role
// (has) and is ranked within n+1 overall goes before better-ranked
// newcomers, so a better node joining does not cause churn for no gain. It
// returns the chosen (in rank order) and the rest.
func pick(ranked []Candidate, n int, has func(Candidate) bool) (chosen, rest []Candidate) {
	if n <= 0 {
		return nil, ranked
	}
	var order []string
	queue := map[string][]int{}
	for i, c := range ranked {
		if _, ok := queue[c.Domain]; !ok {
			order = append(order, c.Domain)
		}
		queue[c.Domain] = append(queue[c.Domain], i)
	}
	for _, d := range order {
		q := queue[d]
		sort.SliceStable(q, func(a, b int) bool {
			ka := has(ranked[q[a]]) && q[a] <= n
			kb := has(ranked[q[b]]) && q[b] <= n
			return ka && !kb
		})
	}
	taken := make([]bool, len(ranked))
	for count := 0; count < n; {
		progress := false
		for _, d := range order {
			if count == n || len(queue[d]) == 0 {
				continue
			}
			taken[queue[d][0]] = true
			queue[d] = queue[d][1:]
			count++
			progress = true
		}
		if !progress {
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
