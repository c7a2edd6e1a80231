package raftcore

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A heartbeat in flight holds Shutdown's gate: close waits for it, and
// after close every heartbeat is answered with an error, never handed to
// raft (whose stores are about to close).
func TestHeartbeatGateWaitsAndRefuses(t *testing.T) {
	g := &heartbeatGate{}
	if !g.enter() {
		t.Fatal("an open gate refused a heartbeat")
	}
	closed := make(chan struct{})
	go func() {
		g.close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned while a heartbeat was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	g.leave()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return after the heartbeat left")
	}
	if g.enter() {
		t.Fatal("a closed gate admitted a heartbeat")
	}
}

func TestRetryUnsentTriesEachPooledStreamOnce(t *testing.T) {
	notSent := fmt.Errorf("write: %w", notSentErr{})
	other := errors.New("i/o timeout")
	for name, tc := range map[string]struct {
		fails []error
		calls int
		err   error
	}{
		"first works":            {nil, 1, nil},
		"two dead, then fresh":   {[]error{notSent, notSent}, 3, nil},
		"sent and failed":        {[]error{other}, 1, other},
		"dead, then sent failed": {[]error{notSent, other}, 2, other},
		"all dead":               {[]error{notSent, notSent, notSent, notSent, notSent}, transportMaxPool + 1, notSent},
	} {
		calls := 0
		err := retryUnsent(func() error {
			calls++
			if calls <= len(tc.fails) {
				return tc.fails[calls-1]
			}
			return nil
		})
		if calls != tc.calls || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%s: %d calls, %v; want %d calls, %v", name, calls, err, tc.calls, tc.err)
		}
	}
}

// notSentErr is an error with the mesh's NotSent method.
type notSentErr struct{}

func (notSentErr) Error() string { return "not sent" }
func (notSentErr) NotSent() bool { return true }
