package raftcore

import (
	"strings"
	"testing"
)

func pending(id string, expect int) Peer {
	return Peer{ID: id, Addr: id + ":7950", Alive: true, Eligible: true, Expect: expect,
		Bootstrap: BootstrapPending, Nonce: "n-" + id}
}

func TestPlanBootstrap(t *testing.T) {
	tests := map[string]struct {
		peers      []Peer
		ready      bool
		formed     bool
		reasonHas  string
		wantVoters []string
	}{
		"exactly three": {
			peers: []Peer{pending("c", 3), pending("a", 3), pending("b", 3)},
			ready: true, wantVoters: []string{"a", "b", "c"},
		},
		"two of three": {
			peers:     []Peer{pending("a", 3), pending("b", 3)},
			reasonHas: "waiting for 3 pre-bootstrap peers, see 2: a,b",
		},
		"four for three": {
			peers:     []Peer{pending("a", 3), pending("b", 3), pending("c", 3), pending("d", 3)},
			reasonHas: "more than 3 pre-bootstrap peers",
		},
		"mismatched expect": {
			peers:     []Peer{pending("a", 3), pending("b", 5), pending("c", 3)},
			reasonHas: "mismatched bootstrap_expect: peer b expects 5, this node expects 3",
		},
		"dead peer does not count": {
			peers:     []Peer{pending("a", 3), pending("b", 3), func() Peer { p := pending("c", 3); p.Alive = false; return p }()},
			reasonHas: "see 2",
		},
		"ineligible peer does not count": {
			peers: []Peer{pending("a", 3), pending("b", 3), pending("c", 3),
				func() Peer { p := pending("d", 3); p.Eligible = false; return p }()},
			ready: true, wantVoters: []string{"a", "b", "c"},
		},
		"formed cluster seen": {
			peers:  []Peer{pending("a", 3), pending("b", 3), {ID: "z", Alive: true, Bootstrap: BootstrapDone, ClusterID: "x"}},
			formed: true, reasonHas: "formed cluster",
		},
		"peer knows a leader": {
			peers:  []Peer{pending("a", 3), {ID: "z", Alive: true, Leader: "y"}},
			formed: true,
		},
		"missing address": {
			peers:     []Peer{pending("a", 3), pending("b", 3), func() Peer { p := pending("c", 3); p.Addr = ""; return p }()},
			reasonHas: "has not advertised its raft address",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := planBootstrap("a", 3, tc.peers)
			if p.ready != tc.ready || p.formed != tc.formed {
				t.Fatalf("ready=%v formed=%v (reason %q), want ready=%v formed=%v", p.ready, p.formed, p.reason, tc.ready, tc.formed)
			}
			if tc.reasonHas != "" && !strings.Contains(p.reason, tc.reasonHas) {
				t.Fatalf("reason %q does not contain %q", p.reason, tc.reasonHas)
			}
			if tc.ready {
				var got []string
				for _, s := range p.servers {
					got = append(got, string(s.ID))
				}
				if strings.Join(got, ",") != strings.Join(tc.wantVoters, ",") {
					t.Fatalf("voters %v, want %v", got, tc.wantVoters)
				}
				if p.clusterID == "" {
					t.Fatal("no cluster id minted")
				}
			}
		})
	}
}

// Every node must compute the same voter list and cluster ID from the same
// peers, whatever order its view lists them in and whichever node it is.
func TestPlanBootstrapIsTheSameOnEveryNode(t *testing.T) {
	a, b, c := pending("a", 3), pending("b", 3), pending("c", 3)
	p1 := planBootstrap("a", 3, []Peer{a, b, c})
	p2 := planBootstrap("c", 3, []Peer{c, a, b})
	if p1.key != p2.key || p1.clusterID != p2.clusterID {
		t.Fatalf("different plans: %q/%q vs %q/%q", p1.key, p1.clusterID, p2.key, p2.clusterID)
	}
	c.Nonce = "other"
	p3 := planBootstrap("a", 3, []Peer{a, b, c})
	if p3.clusterID == p1.clusterID {
		t.Fatal("a different formation (new nonce) minted the same cluster id")
	}
}
