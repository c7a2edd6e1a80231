package kv

import (
	"context"
	"errors"
	"testing"
	"time"
)

type watchResult struct {
	es    []Entry
	index uint64
	err   error
}

func watchKeys(es []Entry) []string {
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return ks
}

// Both ways a watch can wait (on the local replica, or polling through
// the proposer as a client node does) answer a write under the prefix,
// and only that.
func TestWatch(t *testing.T) {
	for _, mode := range []string{"replica", "polling"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			p := &fakeProposer{t: NewReplicated()}
			s := NewService(p, WithReplica(p.t, func() bool { return mode == "replica" }))
			if _, err := s.Put(ctx, "app/a", []byte("1")); err != nil {
				t.Fatal(err)
			}
			es, index, err := s.Watch(ctx, "app/", 0, time.Minute)
			if err != nil || len(es) != 1 || index != 1 {
				t.Fatalf("watch from 0 = %v, %d, %v; want app/a at once, index 1", watchKeys(es), index, err)
			}
			// A wait that runs out answers the same keys.
			es, index2, err := s.Watch(ctx, "app/", index, 20*time.Millisecond)
			if err != nil || len(es) != 1 || index2 != index {
				t.Fatalf("watch that times out = %v, %d, %v", watchKeys(es), index2, err)
			}

			done := make(chan watchResult, 1)
			go func() {
				es, i, err := s.Watch(ctx, "app/", index, time.Minute)
				done <- watchResult{es, i, err}
			}()
			// A write elsewhere does not answer it (if it did, app/b would
			// be missing below).
			if _, err := s.Put(ctx, "other/x", []byte("1")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "app/b", []byte("2")); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil || len(r.es) != 2 || r.es[1].Key != "app/b" || r.index < 3 {
				t.Fatalf("watch after a write = %v, %d, %v; want app/a, app/b", watchKeys(r.es), r.index, r.err)
			}

			go func() {
				es, i, err := s.Watch(ctx, "app/", r.index, time.Minute)
				done <- watchResult{es, i, err}
			}()
			if err := s.Delete(ctx, "app/a", 0); err != nil {
				t.Fatal(err)
			}
			r = <-done
			if r.err != nil || len(r.es) != 1 || r.es[0].Key != "app/b" {
				t.Fatalf("watch after a delete = %v, %v; want app/b alone", watchKeys(r.es), r.err)
			}

			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, _, err := s.Watch(cctx, "app/", r.index+100, time.Minute); !errors.Is(err, context.Canceled) {
				t.Fatalf("watch with an ended ctx = %v", err)
			}
		})
	}
}
