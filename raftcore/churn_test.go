package raftcore

import (
	"strings"
	"testing"
	"time"
)

// Voter changes while the core forms (before the first pass that plans
// nothing) are not churn: a cold start's reshuffle of the bootstrap voters
// must not fire the churn alert. Once settled, more than churnBurst
// changes within churnWindow are one burst.
func TestChurnBurstsCountOnlyAfterTheCoreSettles(t *testing.T) {
	r := newReconciler()
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 6 {
		r.voterChanged(t0.Add(time.Duration(i) * time.Second))
	}
	if n := r.burstCount(); n != 0 {
		t.Fatalf("%d bursts counted while the core formed, want 0", n)
	}
	r.settle()
	t1 := t0.Add(10 * time.Minute)
	for i := range churnBurst {
		r.voterChanged(t1.Add(time.Duration(i) * time.Second))
	}
	if n := r.burstCount(); n != 0 {
		t.Fatalf("%d changes made a burst, want none below %d", churnBurst, churnBurst+1)
	}
	r.voterChanged(t1.Add(5 * time.Second))
	r.voterChanged(t1.Add(6 * time.Second))
	if n := r.burstCount(); n != 1 {
		t.Fatalf("bursts = %d after %d changes within a minute, want 1", n, churnBurst+2)
	}
	// Changes spread beyond the window end the burst; a new one counts again.
	t2 := t1.Add(10 * time.Minute)
	r.voterChanged(t2)
	for i := range churnBurst + 1 {
		r.voterChanged(t2.Add(time.Duration(i+1) * time.Second))
	}
	if n := r.burstCount(); n != 2 {
		t.Fatalf("bursts = %d, want 2", n)
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
