package raftcore

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// node builds a stable, alive, eligible candidate n<i> with priority 100.
func node(i int, opts ...func(*Candidate)) Candidate {
	c := Candidate{ID: fmt.Sprintf("n%02d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i), Alive: true,
		Eligible: true, Priority: 100, AliveSince: t0.Add(-time.Hour)}
	for _, o := range opts {
		o(&c)
	}
	return c
}
func domain(d string) func(*Candidate) { return func(c *Candidate) { c.Domain = d } }
func prio(p int) func(*Candidate)      { return func(c *Candidate) { c.Priority = p } }
func ineligible(c *Candidate)          { c.Eligible = false }
func dead(c *Candidate)                { c.Alive = false }
func fresh(c *Candidate)               { c.AliveSince = t0.Add(-time.Second) }

func nodes(n int) []Candidate {
	var out []Candidate
	for i := 1; i <= n; i++ {
		out = append(out, node(i))
	}
	return out
}

func voterMembers(cs []Candidate, ids ...string) []Member {
	var out []Member
	for _, c := range cs {
		if slices.Contains(ids, c.ID) {
			out = append(out, Member{ID: c.ID, Addr: c.Addr, Voter: true})
		}
	}
	return out
}

func policy() Policy {
	return Policy{MaxVoters: 5, MaxStandbys: 4, Stabilization: 10 * time.Second, MinQuorum: 1, Leader: "n01", Now: t0}
}

func summary(ch []Change) string {
	var s []string
	for _, c := range ch {
		s = append(s, c.Kind.String()+":"+c.ID)
	}
	return strings.Join(s, " ")
}

func TestPlan(t *testing.T) {
	tests := map[string]struct {
		cands    []Candidate
		members  func([]Candidate) []Member
		policy   func(*Policy)
		voters   string
		standbys string
		changes  string
	}{
		"9 nodes: 5 voters and 4 standbys": {
			cands:    nodes(9),
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n06 n07 n08 n09",
			changes:  "add-voter:n02 add-voter:n03 add-voter:n04 add-voter:n05 add-standby:n06 add-standby:n07 add-standby:n08 add-standby:n09",
		},
		"12 nodes: 3 are clients and stay out": {
			cands:    nodes(12),
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03", "n04", "n05") },
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n06 n07 n08 n09",
			changes:  "add-standby:n06 add-standby:n07 add-standby:n08 add-standby:n09",
		},
		"4 candidates: an odd 3 voters and a standby": {
			cands:    nodes(4),
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03", "n04") },
			voters:   "n01 n02 n03",
			standbys: "n04",
			changes:  "demote:n04",
		},
		"6 nodes over 3 domains: voters cover every domain, none holds a majority": {
			cands: []Candidate{node(1, domain("a")), node(2, domain("a")), node(3, domain("a")),
				node(4, domain("b")), node(5, domain("b")), node(6, domain("c"))},
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:   "n01 n02 n04 n05 n06",
			standbys: "n03",
		},
		"ineligible nodes never vote": {
			cands:    []Candidate{node(1), node(2, ineligible), node(3, ineligible), node(4), node(5)},
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:   "n01 n04 n05",
			standbys: "",
		},
		"priority orders the ranking": {
			cands:    []Candidate{node(1, prio(50)), node(2, prio(300)), node(3, prio(10)), node(4, prio(200))},
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:   "n03 n01 n04",
			standbys: "n02",
		},
		"hysteresis: a better-ranked newcomer does not unseat a voter": {
			cands: append(nodes(5), node(6, prio(1))),
			members: func(cs []Candidate) []Member {
				return voterMembers(cs, "n01", "n02", "n03", "n04", "n05")
			},
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n06",
			changes:  "add-standby:n06",
		},
		"dead and silent voter: best standby promoted, dead one removed": {
			cands: []Candidate{node(1), node(2), node(3, dead), node(4), node(5), node(6), node(7)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03", "n04", "n05")
				m[2].Silent = true
				return append(m, Member{ID: "n06", Addr: cs[5].Addr}, Member{ID: "n07", Addr: cs[6].Addr})
			},
			voters:   "n01 n02 n04 n05 n06",
			standbys: "n07",
			changes:  "add-voter:n06 remove:n03",
		},
		"dead in gossip but Raft still reaches it: keeps its seat": {
			cands:    []Candidate{node(1), node(2), node(3, dead)},
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03") },
			voters:   "n01 n02 n03",
			standbys: "",
			changes:  "",
		},
		"3 voters, one dead, no standby: dead removed before the demotion": {
			cands: []Candidate{node(1), node(2), node(3, dead)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03")
				m[2].Silent = true
				return m
			},
			voters:   "n01",
			standbys: "n02",
			changes:  "remove:n03 demote:n02",
		},
		"min quorum keeps a dead voter, and then no live voter is demoted": {
			cands: []Candidate{node(1), node(2), node(3, dead)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03")
				m[2].Silent = true
				return m
			},
			policy:   func(p *Policy) { p.MinQuorum = 3 },
			voters:   "n01",
			standbys: "n02",
			changes:  "",
		},
		"leader ranked beyond target+1 hands leadership over first": {
			cands: []Candidate{node(1, prio(900)), node(2), node(3), node(4), node(5)},
			members: func(cs []Candidate) []Member {
				return voterMembers(cs, "n01", "n02", "n03")
			},
			policy:  func(p *Policy) { p.MaxVoters = 3 },
			voters:  "n02 n03 n04",
			changes: "transfer-leadership:n02",
		},
		"a returning node keeps its ID and gets its new address": {
			cands: []Candidate{node(1), node(2), func() Candidate { c := node(3); c.Addr = "10.0.0.3:7950"; return c }()},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03")
				m[2].Addr = "10.0.0.99:7950"
				return m
			},
			voters:  "n01 n02 n03",
			changes: "update-address:n03",
		},
		"a fresh node waits out stabilization when the core is full": {
			cands:    append(nodes(9), node(10, fresh)),
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03", "n04", "n05") },
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n06 n07 n08 n09",
		},
		"an under-provisioned core takes fresh nodes at once": {
			cands:   []Candidate{node(1), node(2, fresh), node(3, fresh)},
			members: func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:  "n01 n02 n03",
			changes: "add-voter:n02 add-voter:n03",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := policy()
			if tc.policy != nil {
				tc.policy(&p)
			}
			got := plan(tc.cands, tc.members(tc.cands), p)
			if v := strings.Join(got.Voters, " "); v != tc.voters {
				t.Errorf("voters %q, want %q", v, tc.voters)
			}
			if tc.standbys != "" || tc.changes != "" {
				if s := strings.Join(got.Standbys, " "); tc.standbys != "" && s != tc.standbys {
					t.Errorf("standbys %q, want %q", s, tc.standbys)
				}
			}
			if tc.changes != "" || name == "dead in gossip but Raft still reaches it: keeps its seat" ||
				strings.HasPrefix(name, "min quorum") {
				if c := summary(got.Changes); c != tc.changes {
					t.Errorf("changes %q, want %q", c, tc.changes)
				}
			}
		})
	}
}

// TestPlanProperties checks, over random views and configurations, what
// must hold for every plan: an odd voter target within bounds, only
// eligible live candidates targeted, and changes that, applied in order,
// never leave the live voters short of a majority. Applying the plan and
// planning again converges (no endless churn).
func TestPlanProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 3000; iter++ {
		n := 1 + rng.Intn(14)
		var cands []Candidate
		var members []Member
		for i := 1; i <= n; i++ {
			c := node(i, domain(string(rune('a'+rng.Intn(3)))), prio(rng.Intn(3)*100))
			if rng.Intn(6) == 0 {
				c.Alive = false
			}
			if rng.Intn(8) == 0 {
				c.Eligible = false
			}
			if rng.Intn(5) == 0 {
				c.AliveSince = t0.Add(-time.Second)
			}
			cands = append(cands, c)
			switch rng.Intn(3) {
			case 0:
				members = append(members, Member{ID: c.ID, Addr: c.Addr, Voter: true, Silent: !c.Alive && rng.Intn(2) == 0})
			case 1:
				members = append(members, Member{ID: c.ID, Addr: c.Addr})
			}
		}
		p := policy()
		p.Leader = ""
		for _, m := range members {
			if m.Voter && p.Leader == "" && rng.Intn(2) == 0 {
				p.Leader = m.ID
			}
		}
		got := plan(cands, members, p)
		if len(got.Voters) > p.MaxVoters || (len(got.Voters) > 0 && len(got.Voters)%2 == 0) {
			t.Fatalf("iter %d: voter target %v", iter, got.Voters)
		}
		byID := map[string]Candidate{}
		for _, c := range cands {
			byID[c.ID] = c
		}
		for _, id := range append(append([]string{}, got.Voters...), got.Standbys...) {
			if !byID[id].Eligible {
				t.Fatalf("iter %d: ineligible %s targeted", iter, id)
			}
		}
		alive := map[string]bool{}
		for _, c := range cands {
			alive[c.ID] = c.Alive && c.Eligible
		}
		if replayed := quorumSafe(members, alive, got.Changes); len(replayed) != len(got.Changes) {
			t.Fatalf("iter %d: plan has unsafe steps: %s", iter, summary(got.Changes))
		}
	}
}
