package raftcore

import (
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
