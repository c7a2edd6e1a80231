package locks

import (
	"reflect"
	"testing"
	"time"
)

func TestAcquire(t *testing.T) {
	const name = "jobs/nightly"
	req := func(pid string, wait time.Duration) AcquireRequest {
		return AcquireRequest{Name: name, PID: pid, Wait: wait}
	}
	type step struct {
		index   uint64
		now     time.Duration
		req     AcquireRequest
		want    AcquireResult
		events  []Event
		wantErr error
		errHas  []string
	}
	tests := map[string]struct {
		steps []step
		// then checks the lock after the last step (nil: no check).
		then func(t *testing.T, tb *Table)
	}{
		"free lock is granted with token = index": {
			steps: []step{{index: 7, req: req("n1/abc", 0),
				want:   AcquireResult{Granted: true, Token: 7},
				events: []Event{{Granted, name, "n1/abc", 7, false, ""}}}},
			then: func(t *testing.T, tb *Table) {
				l, ok := tb.Get(name)
				if !ok || l.Holder != "n1/abc" || l.Token != 7 || !l.GrantedAt.Equal(t0) {
					t.Fatalf("lock %+v %v", l, ok)
				}
			},
		},
		"holder re-acquire is idempotent with the same token": {
			steps: []step{
				{index: 7, req: req("n1/abc", 0), want: AcquireResult{Granted: true, Token: 7},
					events: []Event{{Granted, name, "n1/abc", 7, false, ""}}},
				{index: 9, now: time.Second, req: req("n1/abc", time.Second), want: AcquireResult{Granted: true, Token: 7}},
			},
			then: func(t *testing.T, tb *Table) {
				if l, _ := tb.Get(name); !l.GrantedAt.Equal(t0) || len(l.Waiters) != 0 {
					t.Fatalf("re-acquire changed the lock: %+v", l)
				}
			},
		},
		"held lock fails fast naming the holder": {
			steps: []step{
				{index: 1, req: req("n1/abc", 0), want: AcquireResult{Granted: true, Token: 1},
					events: []Event{{Granted, name, "n1/abc", 1, false, ""}}},
				{index: 2, req: req("n2/xyz", 0), want: AcquireResult{Holder: "n1/abc"},
					wantErr: ErrHeld, errHas: []string{`lock "jobs/nightly" is held by n1/abc`}},
			},
		},
		"waiters queue in FIFO order": {
			steps: []step{
				{index: 1, req: req("n1/abc", 0), want: AcquireResult{Granted: true, Token: 1},
					events: []Event{{Granted, name, "n1/abc", 1, false, ""}}},
				{index: 2, req: req("n2/a", time.Minute), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 1}},
				{index: 3, req: req("n3/b", time.Minute), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 2}},
			},
			then: func(t *testing.T, tb *Table) {
				l, _ := tb.Get(name)
				want := []Waiter{{PID: "n2/a", Deadline: at(time.Minute)}, {PID: "n3/b", Deadline: at(time.Minute)}}
				if !reflect.DeepEqual(l.Waiters, want) {
					t.Fatalf("waiters %+v, want %+v", l.Waiters, want)
				}
			},
		},
		"second acquire while queued keeps the place and extends the deadline": {
			steps: []step{
				{index: 1, req: req("n1/abc", 0), want: AcquireResult{Granted: true, Token: 1},
					events: []Event{{Granted, name, "n1/abc", 1, false, ""}}},
				{index: 2, req: req("n2/a", time.Minute), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 1}},
				{index: 3, req: req("n3/b", time.Minute), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 2}},
				{index: 4, now: 30 * time.Second, req: req("n2/a", time.Minute),
					want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 1}},
				// A shorter or fail-fast retry never shortens the wait.
				{index: 5, now: 31 * time.Second, req: req("n2/a", 0),
					want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 1}},
			},
			then: func(t *testing.T, tb *Table) {
				l, _ := tb.Get(name)
				if len(l.Waiters) != 2 || l.Waiters[0].PID != "n2/a" || !l.Waiters[0].Deadline.Equal(at(90*time.Second)) {
					t.Fatalf("waiters %+v", l.Waiters)
				}
				if d, _ := tb.NextDeadline(); !d.Equal(at(time.Minute)) {
					t.Fatalf("next deadline %v, want n3/b's", d)
				}
			},
		},
		"an expired waiter is dropped before a new acquire is judged": {
			steps: []step{
				{index: 1, req: req("n1/abc", 0), want: AcquireResult{Granted: true, Token: 1},
					events: []Event{{Granted, name, "n1/abc", 1, false, ""}}},
				{index: 2, req: req("n2/a", time.Second), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 1}},
				{index: 3, now: time.Second, req: req("n3/b", time.Minute),
					want:   AcquireResult{Holder: "n1/abc", Queued: true, Position: 1},
					events: []Event{{WaitExpired, name, "n2/a", 0, false, ""}}},
			},
		},
		"an expired waiter acquiring again rejoins at the back": {
			steps: []step{
				{index: 1, req: req("n1/abc", 0), want: AcquireResult{Granted: true, Token: 1},
					events: []Event{{Granted, name, "n1/abc", 1, false, ""}}},
				{index: 2, req: req("n2/a", time.Second), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 1}},
				{index: 3, req: req("n3/b", time.Minute), want: AcquireResult{Holder: "n1/abc", Queued: true, Position: 2}},
				{index: 4, now: 2 * time.Second, req: req("n2/a", time.Minute),
					want:   AcquireResult{Holder: "n1/abc", Queued: true, Position: 2},
					events: []Event{{WaitExpired, name, "n2/a", 0, false, ""}}},
			},
		},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			tb := New()
			for i, s := range tc.steps {
				before := encode(t, tb)
				res, ev, err := tb.Acquire(s.index, at(s.now), s.req)
				if s.wantErr != nil {
					mustErr(t, err, s.wantErr, s.errHas...)
					mustUnchanged(t, tb, before)
				} else if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !reflect.DeepEqual(res, s.want) {
					t.Fatalf("step %d: result %+v, want %+v", i, res, s.want)
				}
				mustEvents(t, ev, nil, s.events...)
				checkInvariants(t, tb)
			}
			if tc.then != nil {
				tc.then(t, tb)
			}
		})
	}
}

func TestAcquireQueueFull(t *testing.T) {
	tb := New()
	acquire(t, tb, 1, t0, AcquireRequest{Name: "hot", PID: "n0/holder"})
	index := uint64(2)
	for i := range MaxWaiters {
		res, _ := acquire(t, tb, index, t0, AcquireRequest{Name: "hot", PID: pidN(i), Wait: time.Hour})
		if res.Position != i+1 {
			t.Fatalf("waiter %d at position %d", i, res.Position)
		}
		index++
	}
	before := encode(t, tb)
	_, _, err := tb.Acquire(index, t0, AcquireRequest{Name: "hot", PID: "n9/late", Wait: time.Hour})
	mustErr(t, err, ErrQueueFull, `"hot"`, "1024")
	mustUnchanged(t, tb, before)
	// A waiter already queued is not refused: it keeps its place.
	res, _ := acquire(t, tb, index, t0, AcquireRequest{Name: "hot", PID: pidN(5), Wait: time.Hour})
	if !res.Queued || res.Position != 6 {
		t.Fatalf("queued waiter re-acquire: %+v", res)
	}
	checkInvariants(t, tb)
}

func pidN(i int) string {
	return "n1/s" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
}

func TestAcquireHugeWaitSaturates(t *testing.T) {
	tb := New()
	acquire(t, tb, 1, t0, AcquireRequest{Name: "x", PID: "n1/a"})
	acquire(t, tb, 2, t0, AcquireRequest{Name: "x", PID: "n1/b", Wait: time.Duration(1<<63 - 1)})
	ev, err := tb.Tick(3, at(100*365*24*time.Hour))
	mustEvents(t, ev, err)
	if l, _ := tb.Get("x"); len(l.Waiters) != 1 {
		t.Fatalf("a near-infinite wait expired: %+v", l)
	}
}
