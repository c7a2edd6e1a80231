package raftcore

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// update rewrites the planner's goldens from today's plans:
//
//	go test ./raftcore -run TestPlanGolden -update
//
// then read the diff: a golden records a decision, and a changed one is a
// change of behaviour.
var update = flag.Bool("update", false, "rewrite testdata/plan/*.golden from the planner's current decisions")

// goldenCase is the input of one golden, testdata/plan/<name>.json: the
// gossip view (candidates), the current Raft configuration (members) and
// the policy, with times given as durations before the fixed "now" (t0).
type goldenCase struct {
	Comment    string         `json:"comment"`
	Policy     goldenPolicy   `json:"policy"`
	Candidates []goldenCand   `json:"candidates"`
	Members    []goldenMember `json:"members"`
}

type goldenPolicy struct {
	MaxVoters       int    `json:"max_voters"`
	MaxStandbys     int    `json:"max_standbys"`
	Stabilization   string `json:"stabilization"`
	MinQuorum       int    `json:"min_quorum"`
	Leader          string `json:"leader"`
	ClusterID       string `json:"cluster_id,omitempty"`
	ManualAdmission bool   `json:"manual_admission,omitempty"`
}

type goldenCand struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Alive    bool   `json:"alive"`
	Eligible bool   `json:"eligible"`
	Priority int    `json:"priority"`
	Domain   string `json:"domain,omitempty"`
	// AliveFor is how long the node has been alive before now; "" for
	// the zero time.
	AliveFor  string `json:"alive_for,omitempty"`
	ClusterID string `json:"cluster_id,omitempty"`
	Admitted  bool   `json:"admitted,omitempty"`
}

type goldenMember struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Voter  bool   `json:"voter"`
	Silent bool   `json:"silent,omitempty"`
	// CaughtUpFor is how long a standby has been caught up before now; ""
	// for the zero time (not caught up, or a voter).
	CaughtUpFor string `json:"caught_up_for,omitempty"`
}

// before parses a duration field and returns now minus it, or the zero
// time for "".
func before(t *testing.T, field, d string) time.Time {
	t.Helper()
	if d == "" {
		return time.Time{}
	}
	v, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return t0.Add(-v)
}

func readGoldenCase(t *testing.T, path string) ([]Candidate, []Member, Policy) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in goldenCase
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	stab, err := time.ParseDuration(in.Policy.Stabilization)
	if err != nil {
		t.Fatalf("%s: policy.stabilization: %v", path, err)
	}
	p := Policy{MaxVoters: in.Policy.MaxVoters, MaxStandbys: in.Policy.MaxStandbys, Stabilization: stab,
		MinQuorum: in.Policy.MinQuorum, Leader: in.Policy.Leader, ClusterID: in.Policy.ClusterID,
		ManualAdmission: in.Policy.ManualAdmission, Now: t0}
	var cands []Candidate
	for _, c := range in.Candidates {
		cands = append(cands, Candidate{ID: c.ID, Addr: c.Addr, Alive: c.Alive, Eligible: c.Eligible,
			Priority: c.Priority, Domain: c.Domain, AliveSince: before(t, c.ID+".alive_for", c.AliveFor),
			ClusterID: c.ClusterID, Admitted: c.Admitted})
	}
	var members []Member
	for _, m := range in.Members {
		members = append(members, Member{ID: m.ID, Addr: m.Addr, Voter: m.Voter, Silent: m.Silent,
			CaughtUpSince: before(t, m.ID+".caught_up_for", m.CaughtUpFor)})
	}
	return cands, members, p
}

// formatPlan is a golden's text: the target and the ordered changes.
func formatPlan(p Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "voters: %s\n", strings.Join(p.Voters, " "))
	fmt.Fprintf(&b, "standbys: %s\n", strings.Join(p.Standbys, " "))
	b.WriteString("changes:\n")
	for _, ch := range p.Changes {
		line := ch.Kind.String() + " " + ch.ID
		if ch.Addr != "" {
			line += " " + ch.Addr
		}
		if ch.Kind == UpdateAddr {
			line += map[bool]string{true: " as voter", false: " as standby"}[ch.Voter]
		}
		fmt.Fprintf(&b, "  %s\n", line)
	}
	if p.Recheck.IsZero() {
		b.WriteString("recheck: none\n")
	} else {
		fmt.Fprintf(&b, "recheck: now+%s\n", p.Recheck.Sub(t0))
	}
	return b.String()
}

// TestPlanGolden plans every testdata/plan/<name>.json and compares the
// result with <name>.golden. It also plans the same input listed in
// reverse order: every node must compute the same plan from the same view,
// whatever order gossip and Raft list it in.
func TestPlanGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "plan", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden inputs under testdata/plan")
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "plan", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if !slices.Contains(inputs, strings.TrimSuffix(g, ".golden")+".json") {
			t.Errorf("%s has no input beside it", g)
		}
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			cands, members, p := readGoldenCase(t, in)
			got := formatPlan(plan(cands, members, p))
			rc, rm := slices.Clone(cands), slices.Clone(members)
			slices.Reverse(rc)
			slices.Reverse(rm)
			if rev := formatPlan(plan(rc, rm, p)); rev != got {
				t.Errorf("the plan depends on the order of the input:\nin order:\n%s\nreversed:\n%s", got, rev)
			}
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./raftcore -run TestPlanGolden -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("the plan differs from %s (if the change is intended, rerun with -update and review the diff):\ngot:\n%s\nwant:\n%s",
					golden, got, want)
			}
		})
	}
}
