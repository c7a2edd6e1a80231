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

// standbyMembers makes the nodes ids standbys that have been caught up with
// the leader for an hour.
func standbyMembers(cs []Candidate, ids ...string) []Member {
	var out []Member
	for _, c := range cs {
		if slices.Contains(ids, c.ID) {
			out = append(out, Member{ID: c.ID, Addr: c.Addr, CaughtUpSince: t0.Add(-time.Hour)})
		}
	}
	return out
}

func cluster(id string) func(*Candidate) { return func(c *Candidate) { c.ClusterID = id } }
func admitted(c *Candidate)              { c.Admitted = true }

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
		recheck  time.Time // checked if set
	}{
		"9 nodes: the new ones are staged as standbys first": {
			cands:    nodes(9),
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:   "n01",
			standbys: "n02 n03 n04 n05 n06 n07 n08 n09",
			changes:  "add-standby:n02 add-standby:n03 add-standby:n04 add-standby:n05 add-standby:n06 add-standby:n07 add-standby:n08 add-standby:n09",
		},
		"9 nodes, 8 caught-up standbys: 5 voters and 4 standbys": {
			cands: nodes(9),
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09")...)
			},
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n06 n07 n08 n09",
			changes:  "add-voter:n02 add-voter:n03 add-voter:n04 add-voter:n05",
		},
		"12 nodes: 3 are clients and stay out": {
			cands:    nodes(12),
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03", "n04", "n05") },
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n06 n07 n08 n09",
			changes:  "add-standby:n06 add-standby:n07 add-standby:n08 add-standby:n09",
		},
		"12 nodes: better-ranked newcomers do not unseat standbys (they would be left clients with a stale log)": {
			cands: nodes(12),
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01", "n02", "n03", "n04", "n05"), standbyMembers(cs, "n09", "n10", "n11", "n12")...)
			},
			voters:   "n01 n02 n03 n04 n05",
			standbys: "n09 n10 n11 n12",
			changes:  "",
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
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03", "n04", "n05", "n06")...)
			},
			voters:   "n01 n02 n04 n05 n06",
			standbys: "n03",
			changes:  "add-voter:n02 add-voter:n04 add-voter:n05 add-voter:n06",
		},
		"ineligible nodes never vote": {
			cands: []Candidate{node(1), node(2, ineligible), node(3, ineligible), node(4), node(5)},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03", "n04", "n05")...)
			},
			voters:   "n01 n04 n05",
			standbys: "",
			changes:  "add-voter:n04 add-voter:n05 remove:n02 remove:n03",
		},
		"priority orders the ranking": {
			cands: []Candidate{node(1, prio(50)), node(2, prio(300)), node(3, prio(10)), node(4, prio(200))},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03", "n04")...)
			},
			voters:   "n03 n01 n04",
			standbys: "n02",
			changes:  "add-voter:n03 add-voter:n04",
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
		"hysteresis across domains: a better-ranked node in a new domain does not unseat a voter of a distinct domain": {
			// The story: three voters in zones a, b, c; a node with
			// no zone and priority 1 joined and took zone c's seat.
			cands: []Candidate{node(1, domain("a")), node(2, domain("b")), node(3, domain("c")), node(4, prio(1))},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01", "n02", "n03"), standbyMembers(cs, "n04")...)
			},
			voters:   "n01 n02 n03",
			standbys: "n04",
			changes:  "",
		},
		"spread still wins where a domain has no seat: a voter of a doubled domain gives way": {
			cands: []Candidate{node(1, domain("a")), node(2, domain("a")), node(3, domain("b")), node(4, domain("c"))},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01", "n02", "n03"), standbyMembers(cs, "n04")...)
			},
			policy:   func(p *Policy) { p.MaxVoters = 3 },
			voters:   "n01 n03 n04",
			standbys: "n02",
			changes:  "add-voter:n04 demote:n02",
		},
		"dead and silent voter: best standby promoted, dead one removed": {
			cands: []Candidate{node(1), node(2), node(3, dead), node(4), node(5), node(6), node(7)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03", "n04", "n05")
				m[2].Silent = true
				return append(m, standbyMembers(cs, "n06", "n07")...)
			},
			voters:   "n01 n02 n04 n05 n06",
			standbys: "n07",
			changes:  "add-voter:n06 remove:n03",
		},
		"dead voter while the standbys catch up: the live voters keep their seats, even 4": {
			cands: []Candidate{node(1), node(2), node(3, dead), node(4), node(5), node(6), node(7)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03", "n04", "n05")
				m[2].Silent = true
				s := standbyMembers(cs, "n06", "n07")
				s[0].CaughtUpSince, s[1].CaughtUpSince = t0.Add(-time.Second), time.Time{}
				return append(m, s...)
			},
			voters:   "n01 n02 n04 n05",
			standbys: "n06 n07",
			changes:  "remove:n03",
			recheck:  t0.Add(9 * time.Second),
		},
		"dead in gossip but Raft still reaches it: keeps its seat": {
			cands:    []Candidate{node(1), node(2), node(3, dead)},
			members:  func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03") },
			voters:   "n01 n02 n03",
			standbys: "",
			changes:  "",
		},
		"3 voters, one dead, no standby: the dead one keeps its seat rather than a live one losing its vote": {
			cands: []Candidate{node(1), node(2), node(3, dead)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03")
				m[2].Silent = true
				return m
			},
			voters:   "n01 n02 n03",
			standbys: "",
			changes:  "",
		},
		"5 voters, two dead, no standby: both removed (three live voters tolerate one more loss)": {
			cands: []Candidate{node(1), node(2), node(3), node(4, dead), node(5, dead)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03", "n04", "n05")
				m[3].Silent, m[4].Silent = true, true
				return m
			},
			voters:   "n01 n02 n03",
			standbys: "",
			changes:  "remove:n04 remove:n05",
		},
		"min quorum keeps a dead voter, and then no live voter is demoted": {
			cands: []Candidate{node(1), node(2), node(3, dead)},
			members: func(cs []Candidate) []Member {
				m := voterMembers(cs, "n01", "n02", "n03")
				m[2].Silent = true
				return m
			},
			policy:   func(p *Policy) { p.MinQuorum = 3 },
			voters:   "n01 n02 n03",
			standbys: "",
			changes:  "",
		},
		"leader ranked beyond target+1 hands leadership over first": {
			cands: []Candidate{node(1, prio(900)), node(2), node(3), node(4), node(5)},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01", "n02", "n03"), standbyMembers(cs, "n04", "n05")...)
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
			changes:  "add-standby:n06 add-standby:n07 add-standby:n08 add-standby:n09",
		},
		"a 1-voter core: fresh nodes wait out the window too": {
			cands:   []Candidate{node(1), node(2, fresh), node(3, fresh)},
			members: func(cs []Candidate) []Member { return voterMembers(cs, "n01") },
			voters:  "n01",
			changes: "",
			recheck: t0.Add(9 * time.Second),
		},
		"a 3-voter core: a fresh node is not even a standby": {
			cands:   []Candidate{node(1), node(2), node(3), node(4, fresh, prio(1))},
			members: func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03") },
			voters:  "n01 n02 n03",
			changes: "",
		},
		"a standby caught up for less than the window is not promoted": {
			cands: []Candidate{node(1), node(2), node(3)},
			members: func(cs []Candidate) []Member {
				m := append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03")...)
				m[1].CaughtUpSince = t0.Add(-5 * time.Second)
				return m
			},
			voters:   "n01",
			standbys: "n02 n03",
			changes:  "",
			recheck:  t0.Add(5 * time.Second),
		},
		"a standby not caught up, or silent, is not promoted": {
			cands: []Candidate{node(1), node(2), node(3)},
			members: func(cs []Candidate) []Member {
				m := append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03")...)
				m[1].CaughtUpSince = time.Time{}
				m[2].Silent = true
				return m
			},
			voters:   "n01",
			standbys: "n02 n03",
			changes:  "",
		},
		"a caught-up standby alive for less than the window is not promoted": {
			cands: []Candidate{node(1), node(2, fresh), node(3)},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01"), standbyMembers(cs, "n02", "n03")...)
			},
			voters:   "n01",
			standbys: "n02 n03",
			changes:  "",
		},
		"a node of another cluster is never a candidate": {
			cands: []Candidate{node(1, cluster("c1")), node(2, cluster("c1")), node(3, cluster("c1")), node(4, cluster("c2"), prio(1)),
				node(5, cluster("c2"))},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01", "n02", "n03"), standbyMembers(cs, "n05")...)
			},
			policy:   func(p *Policy) { p.ClusterID = "c1" },
			voters:   "n01 n02 n03",
			standbys: "",
			changes:  "remove:n05",
		},
		"manual admission: a stable new node waits until admitted": {
			cands:   []Candidate{node(1), node(2), node(3), node(4)},
			members: func(cs []Candidate) []Member { return voterMembers(cs, "n01", "n02", "n03") },
			policy:  func(p *Policy) { p.ManualAdmission = true },
			voters:  "n01 n02 n03",
			changes: "",
		},
		"manual admission: an admitted node is staged, members stay unadmitted": {
			cands: []Candidate{node(1), node(2), node(3), node(4, admitted), node(5)},
			members: func(cs []Candidate) []Member {
				return append(voterMembers(cs, "n01", "n02"), standbyMembers(cs, "n03")...)
			},
			policy:   func(p *Policy) { p.ManualAdmission = true },
			voters:   "n01 n02 n03",
			standbys: "n04",
			changes:  "add-voter:n03 add-standby:n04",
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
			if s := strings.Join(got.Standbys, " "); tc.standbys != "" && s != tc.standbys {
				t.Errorf("standbys %q, want %q", s, tc.standbys)
			}
			if c := summary(got.Changes); c != tc.changes {
				t.Errorf("changes %q, want %q", c, tc.changes)
			}
			if !tc.recheck.IsZero() && !got.Recheck.Equal(tc.recheck) {
				t.Errorf("recheck at %s, want %s", got.Recheck, tc.recheck)
			}
		})
	}
}

// A new node's way into a 1-voter core, pass by pass: nothing before the
// window; then a standby; then, once caught up for the window, a voter.
func TestPlanAdmissionTimeline(t *testing.T) {
	p := policy()
	joined := t0
	cands := []Candidate{node(1), node(2), node(3)}
	cands[1].AliveSince, cands[2].AliveSince = joined, joined
	members := voterMembers(cands, "n01")
	at := func(d time.Duration) Plan { p.Now = joined.Add(d); return plan(cands, members, p) }

	if pl := at(9 * time.Second); len(pl.Changes) != 0 || !pl.Recheck.Equal(joined.Add(10*time.Second)) {
		t.Fatalf("before the window: changes %q, recheck %s", summary(pl.Changes), pl.Recheck)
	}
	pl := at(10 * time.Second)
	if c := summary(pl.Changes); c != "add-standby:n02 add-standby:n03" {
		t.Fatalf("after the window: changes %q", c)
	}
	members = append(members, Member{ID: "n02", Addr: cands[1].Addr}, Member{ID: "n03", Addr: cands[2].Addr})
	if pl := at(15 * time.Second); len(pl.Changes) != 0 {
		t.Fatalf("standbys not yet caught up: changes %q", summary(pl.Changes))
	}
	members[1].CaughtUpSince, members[2].CaughtUpSince = joined.Add(16*time.Second), joined.Add(16*time.Second)
	if pl := at(25 * time.Second); len(pl.Changes) != 0 || !pl.Recheck.Equal(joined.Add(26*time.Second)) {
		t.Fatalf("caught up for less than the window: changes %q, recheck %s", summary(pl.Changes), pl.Recheck)
	}
	if c := summary(at(26 * time.Second).Changes); c != "add-voter:n02 add-voter:n03" {
		t.Fatalf("caught up for the window: changes %q", c)
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
				m := Member{ID: c.ID, Addr: c.Addr}
				switch rng.Intn(3) {
				case 0:
					m.CaughtUpSince = t0.Add(-time.Hour)
				case 1:
					m.CaughtUpSince = t0.Add(-time.Second)
				}
				members = append(members, m)
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
		// An even voter target only ever keeps current voters (while
		// staged nodes catch up): no promotion makes an even count.
		even := len(got.Voters) > 0 && len(got.Voters)%2 == 0
		for _, id := range got.Voters {
			if even && !slices.ContainsFunc(members, func(m Member) bool { return m.ID == id && m.Voter }) {
				t.Fatalf("iter %d: even voter target %v promotes %s", iter, got.Voters, id)
			}
		}
		if len(got.Voters) > p.MaxVoters {
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
		// Admission: no node becomes a voter unless it is a standby that
		// has been alive and caught up for the window, and none joins the
		// configuration before it has been alive for the window.
		cur := map[string]Member{}
		for _, m := range members {
			cur[m.ID] = m
		}
		for _, ch := range got.Changes {
			c, m := byID[ch.ID], cur[ch.ID]
			switch ch.Kind {
			case AddVoter:
				if _, ok := cur[ch.ID]; !ok || m.CaughtUpSince.IsZero() || p.Now.Sub(m.CaughtUpSince) < p.Stabilization ||
					p.Now.Sub(c.AliveSince) < p.Stabilization {
					t.Fatalf("iter %d: %s made a voter: member %+v, candidate %+v", iter, ch.ID, m, c)
				}
			case AddStandby:
				if p.Now.Sub(c.AliveSince) < p.Stabilization {
					t.Fatalf("iter %d: %s added before its window: %+v", iter, ch.ID, c)
				}
			}
		}
	}
}

// A new leader knows no standby's catch-up time until its first probe
// answers: until then the better-ranked standbys wait with no Recheck time
// and the plan changes nothing, yet the core has not formed. The plan must
// say so (Staged), or the leader would count the promotions that follow
// the next probe as churn (a cold start of 9 nodes over 7 failure domains
// did, once in CI).
func TestPlanStagesStandbysNotYetProbed(t *testing.T) {
	cs := []Candidate{node(1, domain("seeds")), node(2, domain("seeds")), node(3, domain("seeds")),
		node(4, domain("d4")), node(5, domain("d5"))}
	var members []Member
	members = append(members, voterMembers(cs, "n01", "n02", "n03")...)
	for _, c := range cs[3:] {
		members = append(members, Member{ID: c.ID, Addr: c.Addr}) // not yet probed
	}
	p := plan(cs, members, policy())
	if len(p.Changes) != 0 || !p.Recheck.IsZero() {
		t.Fatalf("changes %q, recheck %v: want none before the first probe", summary(p.Changes), p.Recheck)
	}
	if got := strings.Join(p.Staged, " "); got != "n04 n05" {
		t.Fatalf("staged = %q, want %q", got, "n04 n05")
	}
	// Once they are caught up and stable, they take their seats and
	// nothing is staged: that pass's successor settles.
	for i := range members[3:] {
		members[3+i].CaughtUpSince = t0.Add(-time.Hour)
	}
	p = plan(cs, members, policy())
	if len(p.Staged) != 0 {
		t.Fatalf("staged = %q with every standby ready", p.Staged)
	}
}
