package locks

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func semAcq(t *testing.T, tb *Table, index uint64, now time.Time, name, pid string, limit int, wait time.Duration) (AcquireResult, []Event, error) {
	t.Helper()
	return tb.SemAcquire(index, now, SemAcquireRequest{Name: name, PID: pid, Limit: limit, Wait: wait})
}

func TestSemaphoreGrantsUpToLimitThenQueuesFIFO(t *testing.T) {
	tb := New()
	r, _, err := semAcq(t, tb, 1, t0, "batch", "n1/a", 2, 0)
	if err != nil || !r.Granted || r.Token != 1*SemTokenScale {
		t.Fatalf("first: %+v %v", r, err)
	}
	r, _, err = semAcq(t, tb, 2, t0, "batch", "n2/b", 2, 0)
	if err != nil || !r.Granted || r.Token != 2*SemTokenScale {
		t.Fatalf("second: %+v %v", r, err)
	}
	// Re-acquire by a holder keeps its token.
	if r, _, err = semAcq(t, tb, 3, t0, "batch", "n1/a", 2, 0); err != nil || r.Token != SemTokenScale {
		t.Fatalf("re-acquire: %+v %v", r, err)
	}
	// Full: fail fast.
	if _, _, err = semAcq(t, tb, 4, t0, "batch", "n3/c", 2, 0); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "2 of 2") {
		t.Fatalf("full: %v", err)
	}
	// Two waiters, FIFO.
	for i, pid := range []string{"n3/c", "n4/d"} {
		r, _, err = semAcq(t, tb, uint64(5+i), t0, "batch", pid, 2, time.Minute)
		if err != nil || !r.Queued || r.Position != i+1 {
			t.Fatalf("queue %s: %+v %v", pid, r, err)
		}
	}
	ev, err := tb.SemRelease(7, at(time.Second), "batch", "n2/b")
	mustEvents(t, ev, err,
		Event{Kind: Released, Name: "batch", PID: "n2/b", Token: 2 * SemTokenScale, Sem: true},
		Event{Kind: Granted, Name: "batch", PID: "n3/c", Token: 7 * SemTokenScale, Sem: true})
	s, ok := tb.GetSem("batch")
	if !ok || s.Limit != 2 || len(s.Holders) != 2 || s.Holders[1].PID != "n3/c" || len(s.Waiters) != 1 || s.Waiters[0].PID != "n4/d" {
		t.Fatalf("semaphore: %+v", s)
	}
	// A lock of the same name is another thing.
	if r := mustAcquire(t, tb, 8, "batch", "n9/z"); !r.Granted {
		t.Fatalf("lock batch: %+v", r)
	}
}

func mustAcquire(t *testing.T, tb *Table, index uint64, name, pid string) AcquireResult {
	t.Helper()
	r, _ := acquire(t, tb, index, t0, AcquireRequest{Name: name, PID: pid})
	return r
}

func TestSemaphoreLimitMismatchNamesCurrentLimit(t *testing.T) {
	tb := New()
	if _, _, err := semAcq(t, tb, 1, t0, "s", "n1/a", 3, 0); err != nil {
		t.Fatal(err)
	}
	before := encode(t, tb)
	_, _, err := semAcq(t, tb, 2, t0, "s", "n2/b", 2, time.Minute)
	if !errors.Is(err, ErrLimitMismatch) || !strings.Contains(err.Error(), "limit 3") {
		t.Fatalf("mismatch: %v", err)
	}
	if !bytes.Equal(before, encode(t, tb)) {
		t.Fatal("a refused acquire changed the table")
	}
	// Once the semaphore is gone, a new limit is fine.
	if _, err := tb.SemRelease(3, t0, "s", "n1/a"); err != nil {
		t.Fatal(err)
	}
	if r, _, err := semAcq(t, tb, 4, t0, "s", "n2/b", 2, 0); err != nil || !r.Granted {
		t.Fatalf("new limit: %+v %v", r, err)
	}
}

func TestSemaphoreBadInputNamesField(t *testing.T) {
	cases := map[string]struct {
		req   SemAcquireRequest
		field string
	}{
		"limit 0":       {SemAcquireRequest{Name: "s", PID: "n1/a", Limit: 0}, "limit"},
		"limit too big": {SemAcquireRequest{Name: "s", PID: "n1/a", Limit: MaxSemLimit + 1}, "limit"},
		"empty name":    {SemAcquireRequest{Name: "", PID: "n1/a", Limit: 1}, "name"},
		"bad pid":       {SemAcquireRequest{Name: "s", PID: "nopid", Limit: 1}, "pid"},
		"negative wait": {SemAcquireRequest{Name: "s", PID: "n1/a", Limit: 1, Wait: -1}, "wait"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tb := New()
			_, ev, err := tb.SemAcquire(1, t0, c.req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) || len(ev) != 0 {
				t.Fatalf("got %v %v, want ErrInvalid naming %s", ev, err, c.field)
			}
			if len(tb.ListSems("")) != 0 || tb.LastToken() != 0 {
				t.Fatal("bad input changed the table")
			}
		})
	}
}

func TestSemaphoreReleaseNodeHandsSeveralSlotsInOneEntry(t *testing.T) {
	tb := New()
	for i, pid := range []string{"gone/a", "gone/b", "n1/c", "n2/d", "n3/e"} {
		if _, _, err := semAcq(t, tb, uint64(i+1), t0, "s", pid, 2, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := tb.ReleaseNode(10, at(time.Second), "gone")
	mustEvents(t, ev, err,
		Event{Kind: AutoReleased, Name: "s", PID: "gone/a", Token: 1 * SemTokenScale, Sem: true},
		Event{Kind: AutoReleased, Name: "s", PID: "gone/b", Token: 2 * SemTokenScale, Sem: true},
		Event{Kind: Granted, Name: "s", PID: "n1/c", Token: 10 * SemTokenScale, Sem: true},
		Event{Kind: Granted, Name: "s", PID: "n2/d", Token: 10*SemTokenScale + 1, Sem: true})
	// The session of the last waiter ends: its wait is cancelled.
	ev, err = tb.ReleaseSession(11, at(time.Second), "n3/e")
	mustEvents(t, ev, err, Event{Kind: WaitCancelled, Name: "s", PID: "n3/e", Sem: true})
}

func TestSemaphoreWaitExpiresOnTick(t *testing.T) {
	tb := New()
	semAcq(t, tb, 1, t0, "s", "n1/a", 1, 0)
	if _, _, err := semAcq(t, tb, 2, t0, "s", "n2/b", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if d, ok := tb.NextDeadline(); !ok || !d.Equal(at(time.Second)) {
		t.Fatalf("NextDeadline %v %v", d, ok)
	}
	ev, err := tb.Tick(3, at(time.Second))
	mustEvents(t, ev, err, Event{Kind: WaitExpired, Name: "s", PID: "n2/b", Sem: true})
	if _, ok := tb.NextDeadline(); ok {
		t.Fatal("deadline left after the tick")
	}
}

// TestSemaphoreRandomNeverOverLimit drives random acquires, releases,
// session and node ends and ticks, and checks after every step: never more
// holders than the limit, no free slot while someone waits, tokens unique
// and increasing, and a snapshot round trip that re-encodes identically.
func TestSemaphoreRandomNeverOverLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 18))
	tb := New()
	seen := map[uint64]bool{}
	const limit = 3
	now := t0
	for index := uint64(1); index <= 3000; index++ {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		pid := fmt.Sprintf("n%d/s%d", rng.IntN(4), rng.IntN(6))
		var ev []Event
		var err error
		switch rng.IntN(10) {
		case 0, 1, 2, 3:
			_, ev, err = semAcq(t, tb, index, now, "s", pid, limit, time.Duration(rng.IntN(3))*time.Second)
		case 4, 5, 6:
			ev, err = tb.SemRelease(index, now, "s", pid)
		case 7:
			ev, err = tb.ReleaseSession(index, now, pid)
		case 8:
			ev, err = tb.ReleaseNode(index, now, fmt.Sprintf("n%d", rng.IntN(4)))
		default:
			ev, err = tb.Tick(index, now)
		}
		if err != nil && !errors.Is(err, ErrHeld) && !errors.Is(err, ErrNotHolder) {
			t.Fatalf("step %d: %v", index, err)
		}
		for _, e := range ev {
			if e.Kind == Granted {
				if seen[e.Token] || e.Token/SemTokenScale != index {
					t.Fatalf("step %d: token %d repeated or not from this entry", index, e.Token)
				}
				seen[e.Token] = true
			}
		}
		if s, ok := tb.GetSem("s"); ok {
			if len(s.Holders) > limit || (len(s.Holders) < limit && len(s.Waiters) > 0) {
				t.Fatalf("step %d: %+v", index, s)
			}
			for i := 1; i < len(s.Holders); i++ {
				if s.Holders[i].Token <= s.Holders[i-1].Token {
					t.Fatalf("step %d: holders out of token order %+v", index, s.Holders)
				}
			}
		}
		if index%100 == 0 {
			b := encode(t, tb)
			got := New()
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("step %d: restore: %v", index, err)
			}
			if !bytes.Equal(encode(t, got), b) || !reflect.DeepEqual(got.ListSems(""), tb.ListSems("")) {
				t.Fatalf("step %d: snapshot round trip differs", index)
			}
		}
	}
	if len(seen) < 100 {
		t.Fatalf("only %d grants: the test did not exercise much", len(seen))
	}
}

func TestSnapshotWithoutSemaphoresStaysVersion1(t *testing.T) {
	tb := sampleTable(t)
	if b := encode(t, tb); b[len(snapMagic)] != snapVersion {
		t.Fatalf("version byte %d", b[len(snapMagic)])
	}
	semAcq(t, tb, 20, t0, "s", "n1/a", 2, 0)
	if b := encode(t, tb); b[len(snapMagic)] != snapVersionSem {
		t.Fatalf("version byte with a semaphore %d", b[len(snapMagic)])
	}
}

func TestSemInfosRoundTrip(t *testing.T) {
	tb := New()
	semAcq(t, tb, 1, t0, "s", "n1/a", 1, 0)
	semAcq(t, tb, 2, t0, "s", "n2/b", 1, time.Minute)
	got, err := ParseSemInfos(marshalSemInfos(tb.ListSems("")))
	if err != nil || len(got) != 1 || got[0].Limit != 1 || got[0].Holders[0].Token != SemTokenScale ||
		got[0].Waiters[0].PID != "n2/b" {
		t.Fatalf("%+v %v", got, err)
	}
}

// FuzzParseSemInfos: a semaphore query result from the network never
// panics the reader.
func FuzzParseSemInfos(f *testing.F) {
	tb := New()
	tb.SemAcquire(1, t0, SemAcquireRequest{Name: "s", PID: "n1/a", Limit: 1})
	tb.SemAcquire(2, t0, SemAcquireRequest{Name: "s", PID: "n2/a", Limit: 1, Wait: time.Second})
	f.Add(marshalSemInfos(tb.ListSems("")))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := ParseSemInfos(b)
		if err == nil {
			for _, s := range ss {
				if s.Limit < 0 {
					t.Fatalf("negative limit %d", s.Limit)
				}
			}
		}
	})
}
