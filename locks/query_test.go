package locks

import (
	"testing"
	"time"
)

func TestQueriesReturnCopies(t *testing.T) {
	tb := setup(t, time.Second, w{"n2/a", time.Minute})
	l, _ := tb.Get("L")
	l.Holder = "n9/evil"
	l.Waiters[0].PID = "n9/evil"
	for _, got := range [][]Lock{tb.List(""), tb.HeldBy("n1/h")} {
		got[0].Waiters[0].PID = "n9/evil"
		got[0].Token = 99
	}
	again, _ := tb.Get("L")
	if again.Holder != "n1/h" || again.Token != 1 || again.Waiters[0].PID != "n2/a" {
		t.Fatalf("a caller mutated the table: %+v", again)
	}
	checkInvariants(t, tb)
}

func TestListAndHeldBy(t *testing.T) {
	tb := New()
	names := []string{"jobs/b", "other", "jobs/a", "jobs/c"}
	for i, n := range names {
		acquire(t, tb, uint64(i+1), t0, AcquireRequest{Name: n, PID: "n1/s"})
	}
	acquire(t, tb, 10, t0, AcquireRequest{Name: "x", PID: "n2/s"})
	acquire(t, tb, 11, t0, AcquireRequest{Name: "x", PID: "n1/s", Wait: time.Minute})

	tests := map[string]struct {
		got  []Lock
		want []string
	}{
		"list prefix":      {tb.List("jobs/"), []string{"jobs/a", "jobs/b", "jobs/c"}},
		"list all":         {tb.List(""), []string{"jobs/a", "jobs/b", "jobs/c", "other", "x"}},
		"list none":        {tb.List("zzz"), nil},
		"held by n1/s":     {tb.HeldBy("n1/s"), []string{"jobs/a", "jobs/b", "jobs/c", "other"}},
		"held by n2/s":     {tb.HeldBy("n2/s"), []string{"x"}},
		"held by stranger": {tb.HeldBy("n3/s"), nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, l := range tc.got {
				got = append(got, l.Name)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	if tb.Len() != 5 || tb.LastToken() != 10 {
		t.Fatalf("Len %d LastToken %d", tb.Len(), tb.LastToken())
	}
}
