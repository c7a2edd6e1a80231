package raftcore

import (
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
