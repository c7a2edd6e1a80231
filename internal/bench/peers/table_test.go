package main

import (
	"slices"
	"testing"
	"time"
)

func TestRunOrderAlternates(t *testing.T) {
	systems := []peerSystem{{name: "etcd"}, {name: "conclave"}}
	for _, c := range []struct {
		rounds  int
		systems []string
		want    []int
	}{
		{1, []string{"etcd", "conclave"}, []int{0, 1}},
		{2, []string{"etcd", "conclave"}, []int{0, 1, 1, 0}},
		{3, []string{"etcd", "conclave"}, []int{0, 1, 1, 0, 0, 1}},
		{2, []string{"conclave"}, []int{1, 1}},
	} {
		s := settings{rounds: c.rounds, systems: c.systems}
		if got := runOrder(s, systems); !slices.Equal(got, c.want) {
			t.Errorf("runOrder(%d rounds, %v) = %v, want %v", c.rounds, c.systems, got, c.want)
		}
	}
}

func TestTableMedianAndCell(t *testing.T) {
	tb := newTable()
	tb.figures["put"] = [2][]float64{{976, 1158}, {1402, 1380, 1500}}
	if got := tb.median("put", 0); got != 1067 {
		t.Errorf("median of two = %v, want their mean 1067", got)
	}
	if got := tb.median("put", 1); got != 1402 {
		t.Errorf("median of three = %v, want 1402", got)
	}
	if got := tb.median("lock", 0); got != 0 {
		t.Errorf("median of no figures = %v, want 0", got)
	}
	s := settings{systems: []string{"etcd", "conclave"}}
	if got, want := tb.cell(s, "etcd", "put", 0, "%.0f"), "1067 (976, 1158)"; got != want {
		t.Errorf("cell = %q, want %q (median, then each run in order)", got, want)
	}
	s.systems = []string{"conclave"}
	if got := tb.cell(s, "etcd", "put", 0, "%.0f"); got != "-" {
		t.Errorf("cell of a system left out = %q, want -", got)
	}
}

func TestPerCommitAgainstEachRunsFloor(t *testing.T) {
	tb := newTable()
	tb.figures[rowLock1] = [2][]float64{nil, {500, 1000}}
	tb.floors[1] = []floor{
		{fsync: 180 * time.Microsecond, rtt: 20 * time.Microsecond},
		{fsync: 230 * time.Microsecond, rtt: 20 * time.Microsecond},
	}
	costs, ratios := tb.perCommit(rowLock1, 1, 2)
	wantCosts := []time.Duration{time.Millisecond, 500 * time.Microsecond}
	wantRatios := []float64{5, 2}
	if !slices.Equal(costs, wantCosts) || !slices.Equal(ratios, wantRatios) {
		t.Errorf("perCommit = %v, %v; want %v, %v (a lock cycle is two commits, each run against its own floor)",
			costs, ratios, wantCosts, wantRatios)
	}
	if costs, _ := tb.perCommit(rowLock1, 0, 2); len(costs) != 0 {
		t.Errorf("perCommit of a system with no runs = %v, want none", costs)
	}
}
