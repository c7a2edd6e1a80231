package locks

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// t0 is an arbitrary command time; tests step from it.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func acquire(t *testing.T, tb *Table, index uint64, now time.Time, req AcquireRequest) (AcquireResult, []Event) {
	t.Helper()
	res, ev, err := tb.Acquire(index, now, req)
	if err != nil {
		t.Fatalf("acquire %+v at %d: %v", req, index, err)
	}
	return res, ev
}

func mustEvents(t *testing.T, got []Event, err error, want ...Event) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
}

func encode(t testing.TB, tb *Table) []byte {
	t.Helper()
	b, err := tb.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func mustUnchanged(t *testing.T, tb *Table, before []byte) {
	t.Helper()
	if after := encode(t, tb); !bytes.Equal(before, after) {
		t.Fatalf("table changed:\nbefore %x\n after %x", before, after)
	}
}

func mustErr(t *testing.T, err, want error, contains ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, s := range contains {
		if !bytes.Contains([]byte(err.Error()), []byte(s)) {
			t.Fatalf("error %q does not mention %q", err, s)
		}
	}
}

// checkInvariants verifies the table's internal consistency: the structural
// "one holder" rule, liveness, queue bounds, and that the PID index and the
// due heap agree with the locks.
func checkInvariants(t testing.TB, tb *Table) {
	t.Helper()
	links := 0
	for name, l := range tb.locks {
		if l.name != name {
			t.Fatalf("lock %q stored under %q", l.name, name)
		}
		if !l.live() {
			t.Fatalf("lock %q is neither held nor delayed", name)
		}
		if l.holder != "" && l.delayed {
			t.Fatalf("lock %q is held and delayed", name)
		}
		if l.holder == "" && (l.token != 0 || l.grantedAt != 0 || l.holderDelay != 0) {
			t.Fatalf("unheld lock %q keeps holder fields %+v", name, l)
		}
		if !l.delayed && l.delayUntil != 0 {
			t.Fatalf("lock %q keeps delayUntil", name)
		}
		if l.holder != "" && (l.token == 0 || l.token > tb.lastToken) {
			t.Fatalf("lock %q token %d outside 1..%d", name, l.token, tb.lastToken)
		}
		if len(l.waiters) > MaxWaiters {
			t.Fatalf("lock %q has %d waiters", name, len(l.waiters))
		}
		seen := map[string]bool{}
		if l.holder != "" {
			seen[l.holder] = true
			links++
			if _, ok := tb.byPID[l.holder][name]; !ok {
				t.Fatalf("holder %s of %q not indexed", l.holder, name)
			}
		}
		for _, w := range l.waiters {
			if seen[w.pid] {
				t.Fatalf("lock %q lists %s twice (holder %q)", name, w.pid, l.holder)
			}
			seen[w.pid] = true
			links++
			if _, ok := tb.byPID[w.pid][name]; !ok {
				t.Fatalf("waiter %s of %q not indexed", w.pid, name)
			}
		}
		due, ok := l.due()
		if ok != (l.heapIdx >= 0) || (ok && l.dueAt != due) {
			t.Fatalf("lock %q due %v/%v, heap idx %d dueAt %d", name, due, ok, l.heapIdx, l.dueAt)
		}
		if l.heapIdx >= 0 && tb.due[l.heapIdx] != l {
			t.Fatalf("lock %q heap index %d is stale", name, l.heapIdx)
		}
	}
	total := 0
	for pid, set := range tb.byPID {
		if len(set) == 0 {
			t.Fatalf("empty index entry for %s", pid)
		}
		total += len(set)
	}
	if total != links {
		t.Fatalf("pid index has %d entries, locks have %d", total, links)
	}
	for i, l := range tb.due {
		if l.heapIdx != i || tb.locks[l.name] != l {
			t.Fatalf("heap entry %d (%q) is stale", i, l.name)
		}
		if p := (i - 1) / 2; i > 0 && tb.due[p].dueAt > l.dueAt {
			t.Fatalf("heap order broken at %d", i)
		}
	}
}
