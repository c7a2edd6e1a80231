package kv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

var t0 = time.Unix(1_700_000_000, 0)

func mustMerge(t *testing.T, e *Eventual, now time.Time, msg []byte) EventualMerge {
	t.Helper()
	r, err := e.Merge(now, msg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEventualPutGetDelete(t *testing.T) {
	e := NewEventual("n1", EventualConfig{})
	got, delta, err := e.Put(t0, "a", []byte("1"))
	if err != nil || delta == nil || got.Origin != "n1" || got.Clock.Wall != t0.UnixNano() {
		t.Fatalf("put: %+v %v", got, err)
	}
	// The same wall clock again: the logical counter orders the writes.
	e2, _, _ := e.Put(t0, "a", []byte("2"))
	if !got.Clock.Less(e2.Clock) || e2.Clock.Logical != 1 {
		t.Fatalf("second stamp %+v not after %+v", e2.Clock, got.Clock)
	}
	if g, err := e.Get("a"); err != nil || string(g.Value) != "2" {
		t.Fatalf("get: %+v %v", g, err)
	}
	if _, err := e.Delete(t0, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := e.Delete(t0, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if s := e.Stats(); s.Keys != 0 || s.Tombstones != 1 {
		t.Fatalf("stats %+v", s)
	}
	if n := e.Compact(t0.Add(30 * time.Minute)); n != 0 {
		t.Fatalf("compacted %d before the TTL", n)
	}
	if n := e.Compact(t0.Add(2 * time.Hour)); n != 1 || e.Stats().Bytes != 0 {
		t.Fatalf("compacted %d, bytes %d", n, e.Stats().Bytes)
	}
}

func TestEventualBadInputChangesNothing(t *testing.T) {
	e := NewEventual("n1", EventualConfig{MaxValueBytes: 8, MaxStoreBytes: 200})
	for _, tc := range []struct {
		key, field string
		val        []byte
	}{
		{"", "key", nil},
		{"_sys/x", "key", nil},
		{"k", "value", make([]byte, 9)},
	} {
		_, _, err := e.Put(t0, tc.key, tc.val)
		if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Fatalf("put %q: %v, want invalid %s", tc.key, err, tc.field)
		}
	}
	if _, _, err := e.Put(t0, "k1", []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Put(t0, "k2", []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.Put(t0, "k3", []byte("12345678"))
	if !errors.Is(err, ErrStoreFull) {
		t.Fatalf("put over the store bound: %v", err)
	}
	if _, err := e.Get("k3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused write applied: %v", err)
	}
	// Overwriting with a smaller value is allowed when full.
	if _, _, err := e.Put(t0, "k1", []byte("1")); err != nil {
		t.Fatal(err)
	}
}

func TestEventualRemoteOverLimitsDropped(t *testing.T) {
	src := NewEventual("n2", EventualConfig{})
	_, big, _ := src.Put(t0, "big", make([]byte, 100))
	dst := NewEventual("n1", EventualConfig{MaxValueBytes: 50, MaxStoreBytes: 150})
	mustMerge(t, dst, t0, big)
	if s := dst.Stats(); s.Keys != 0 || s.Dropped["value_too_large"] != 1 {
		t.Fatalf("stats %+v", s)
	}
	_, d1, _ := src.Put(t0, "a", make([]byte, 40))
	_, d2, _ := src.Put(t0, "b", make([]byte, 40))
	mustMerge(t, dst, t0, d1)
	mustMerge(t, dst, t0, d2)
	if s := dst.Stats(); s.Keys != 1 || s.Dropped["store_full"] != 1 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := dst.Merge(t0, []byte{msgEventualDelta, 5, 1}); err == nil {
		t.Fatal("truncated message merged")
	}
	if s := dst.Stats(); s.Dropped["malformed"] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A write made after seeing a peer's write orders after it even when the
// writer's clock is behind (the HLC receive rule).
func TestEventualHLCCausality(t *testing.T) {
	ahead, behind := NewEventual("a", EventualConfig{}), NewEventual("b", EventualConfig{})
	_, d, _ := ahead.Put(t0.Add(time.Minute), "k", []byte("first"))
	mustMerge(t, behind, t0, d)
	_, d2, _ := behind.Put(t0, "k", []byte("second"))
	mustMerge(t, ahead, t0, d2)
	for _, e := range []*Eventual{ahead, behind} {
		if g, _ := e.Get("k"); string(g.Value) != "second" {
			t.Fatalf("%s holds %q, want the causally later write", e.self, g.Value)
		}
	}
}

// Merge is commutative, associative and idempotent: random writes and
// deletes on several nodes, delivered to each replica in a different
// random order with repeats, leave every replica with the same digest,
// and each key at its highest (clock, origin) version.
func TestEventualMergeProperty(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		writers := []*Eventual{NewEventual("n1", EventualConfig{}), NewEventual("n2", EventualConfig{}), NewEventual("n3", EventualConfig{})}
		var msgs [][]byte
		for i := 0; i < 60; i++ {
			w := writers[rng.IntN(len(writers))]
			key := fmt.Sprintf("k%d", rng.IntN(6))
			now := t0.Add(time.Duration(rng.IntN(5)) * time.Millisecond)
			if rng.IntN(4) == 0 {
				if d, err := w.Delete(now, key); err == nil {
					msgs = append(msgs, d)
				}
				continue
			}
			_, d, err := w.Put(now, key, []byte(fmt.Sprint(i)))
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, d)
			if rng.IntN(3) == 0 { // some writers learn of others' writes
				o := writers[rng.IntN(len(writers))]
				mustMerge(t, o, now, d)
			}
		}
		for _, w := range writers {
			msgs = append(msgs, w.State())
		}
		var digests []string
		for r := 0; r < 4; r++ {
			rep := NewEventual(fmt.Sprintf("r%d", r), EventualConfig{})
			order := rng.Perm(len(msgs))
			for _, i := range order {
				mustMerge(t, rep, t0, msgs[i])
				if rng.IntN(3) == 0 {
					mustMerge(t, rep, t0, msgs[rng.IntN(len(msgs))])
				}
			}
			digests = append(digests, rep.Digest())
		}
		for i := 1; i < len(digests); i++ {
			if digests[i] != digests[0] {
				t.Fatalf("seed %d: replica %d diverged", seed, i)
			}
		}
	}
}

// A push/pull state carries at most MaxStateBytes and the next one goes
// on from where it stopped, so successive states cover the whole store.
func TestEventualStateChunks(t *testing.T) {
	src := NewEventual("n1", EventualConfig{MaxStateBytes: 500})
	for i := 0; i < 40; i++ {
		if _, _, err := src.Put(t0, fmt.Sprintf("key%02d", i), make([]byte, 50)); err != nil {
			t.Fatal(err)
		}
	}
	dst := NewEventual("n2", EventualConfig{})
	rounds := 0
	for dst.Digest() != src.Digest() {
		st := src.State()
		if len(st) > 600 {
			t.Fatalf("state of %d bytes", len(st))
		}
		mustMerge(t, dst, t0, st)
		if rounds++; rounds > 20 {
			t.Fatalf("not converged after %d states: %d of 40 keys", rounds, dst.Stats().Keys)
		}
	}
	if rounds < 2 {
		t.Fatalf("converged in %d state; the bound did not chunk", rounds)
	}
}
