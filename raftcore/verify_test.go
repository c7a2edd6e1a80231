package raftcore

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// verifyRaft is a raftNode whose VerifyLeader rounds the test answers.
type verifyRaft struct {
	raftNode // nil: any other method fails the test by panicking
	started  chan chan error
}

func (v *verifyRaft) VerifyLeader() raft.Future {
	ch := make(chan error, 1)
	v.started <- ch
	return errFuture(ch)
}

type errFuture chan error

func (f errFuture) Error() error { return <-f }

// TestVerifyLeaderSharesRounds: a read never rides a round that started
// before it arrived, and the reads that arrive during one round share the
// next.
func TestVerifyLeaderSharesRounds(t *testing.T) {
	fake := &verifyRaft{started: make(chan chan error, 4)}
	c := &Core{cfg: Config{ApplyTimeout: time.Minute}, raft: fake, shutdownCh: make(chan struct{})}
	defer close(c.shutdownCh)
	read := func() chan error {
		out := make(chan error, 1)
		go func() { out <- c.verifyLeader() }()
		return out
	}
	joined := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.verify.mu.Lock()
			got := 0
			if c.verify.next != nil {
				got = c.verify.next.reads
			}
			c.verify.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d reads waiting for the next round, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	round := func() chan error {
		t.Helper()
		select {
		case ch := <-fake.started:
			return ch
		case <-time.After(10 * time.Second):
			t.Fatal("no round started")
			return nil
		}
	}
	answer := func(name string, r chan error, want error) {
		t.Helper()
		select {
		case err := <-r:
			if !errors.Is(err, want) {
				t.Fatalf("%s: %v, want %v", name, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer", name)
		}
	}

	a := read()
	r1 := round()
	b := read() // arrives while round 1 is in flight
	joined(1)
	r1 <- nil
	answer("a", a, nil)
	r2 := round()
	select {
	case err := <-b:
		t.Fatalf("b answered (%v) by a round that started before it arrived", err)
	default:
	}
	c1, c2 := read(), read()
	joined(2)
	lost := raft.ErrLeadershipLost
	r2 <- lost
	answer("b", b, lost)
	r3 := round()
	r3 <- nil
	answer("c1", c1, nil)
	answer("c2", c2, nil)
	select {
	case <-fake.started:
		t.Fatal("a fourth round started with no read waiting")
	default:
	}
}
