package locks

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// On a node that applies no log (a client), a waiting acquire returns on
// the leader's hint without waiting for its poll; a hint of an earlier
// entry than the acquire's does not answer it.
func TestGrantHintWakesWaiter(t *testing.T) {
	h := newHarness(t, false)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: time.Minute})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	stale := EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "job", PID: "n1/b", Token: 2}, Index: 2})
	if err := h.svc.HandleGrantHint(stale); err != nil {
		t.Fatal(err)
	}
	h.core.propose(t, Release{Name: "job", PID: "n1/a", Now: h.clock.Now()}.Marshal())
	select {
	case o := <-out:
		t.Fatalf("the acquire returned before any hint of its grant: %+v", o)
	case <-time.After(20 * time.Millisecond):
	}
	if err := h.svc.HandleGrantHint(EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "job", PID: "n1/b", Token: 3}, Index: 3})); err != nil {
		t.Fatal(err)
	}
	if o := wait(t, out); o.err != nil || o.token != 3 {
		t.Fatalf("hinted acquire: %d, %v; want token 3", o.token, o.err)
	}
	if got := h.svc.Held("n1/b"); got["job"] != 3 {
		t.Fatalf("held %v, want job with token 3", got)
	}
	// A hint for nobody waiting, or for another node's session, is no error.
	for _, pid := range []string{"n1/c", "n2/b"} {
		if err := h.svc.HandleGrantHint(EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "job", PID: pid, Token: 9}, Index: 9})); err != nil {
			t.Fatalf("hint for %s: %v", pid, err)
		}
	}
}

func TestGrantHintMalformed(t *testing.T) {
	h := newHarness(t, false)
	good := EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "job", PID: "n1/b", Token: 3}, Index: 3})
	for name, hint := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"bad name":  EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "", PID: "n1/b"}, Index: 3}),
		"bad pid":   EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "job", PID: "nobody"}, Index: 3}),
	} {
		err := h.svc.HandleGrantHint(hint)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("%s: %v, want malformed or invalid", name, err)
		}
	}
}

// Deliver hands the pusher the lock grants to other nodes' sessions, and
// only those.
func TestDeliverPushesOtherNodesGrants(t *testing.T) {
	h := newHarness(t, true)
	var (
		mu     sync.Mutex
		pushed []IndexedEvent
	)
	h.svc.push = func(ev IndexedEvent) {
		mu.Lock()
		defer mu.Unlock()
		pushed = append(pushed, ev)
	}
	if _, err := h.svc.Acquire(bg, "n1/a", "mine", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	h.core.propose(t, Acquire{Name: "theirs", PID: "n2/x", Now: h.clock.Now()}.Marshal())
	h.core.propose(t, Release{Name: "theirs", PID: "n2/x", Now: h.clock.Now()}.Marshal())
	mu.Lock()
	defer mu.Unlock()
	if len(pushed) != 1 || pushed[0].PID != "n2/x" || pushed[0].Name != "theirs" || pushed[0].Kind != Granted || pushed[0].Token != pushed[0].Index {
		t.Fatalf("pushed %+v, want only the grant of theirs to n2/x", pushed)
	}
}

// FuzzGrantHint: any bytes from the mesh decode to a valid grant or an
// error, never a panic; an accepted hint encodes back to bytes that decode
// to the same grant (the wire decoder accepts over-long varints, so the
// bytes themselves may differ).
func FuzzGrantHint(f *testing.F) {
	f.Add(EncodeGrantHint(IndexedEvent{Event: Event{Kind: Granted, Name: "job", PID: "n1/b", Token: 3}, Index: 3}))
	f.Add([]byte{grantHintVersion})
	f.Add([]byte{9, 3, 'j', 'o', 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeGrantHint(b)
		if err != nil {
			return
		}
		if ev.Kind != Granted || ValidateName(ev.Name) != nil || wire.ValidatePID("pid", ev.PID) != nil {
			t.Fatalf("accepted an invalid hint: %+v", ev)
		}
		again, err := decodeGrantHint(EncodeGrantHint(ev))
		if err != nil || again != ev {
			t.Fatalf("hint %x decodes to %+v, whose encoding decodes to %+v, %v", b, ev, again, err)
		}
	})
}
