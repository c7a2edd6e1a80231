package gossip

import (
	"context"
	"testing"
	"time"
)

// waitFor polls cond until it holds or timeout passes, then fails the test
// with what.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-poll.C:
		}
	}
}

// waitEvent reads ch until an event matching pred arrives.
func waitEvent(t *testing.T, ch <-chan Event, timeout time.Duration, what string, pred func(Event) bool) Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed while waiting for %s", what)
			}
			if pred(ev) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for event %s", timeout, what)
		}
	}
}

type nodeOpt struct {
	cfg  func(*Config)
	meta func(*Meta)
	opts []Option
}

// startNode creates a Membership on 127.0.0.1:0 with DefaultLocalConfig and
// shuts it down at the end of the test.
func startNode(t *testing.T, name string, o nodeOpt) *Membership {
	t.Helper()
	cfg := DefaultLocalConfig()
	cfg.Name = name
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	meta := Meta{Role: "auto", Eligible: true, InternodeAddr: "127.0.0.1:7950", Nonce: name + "-nonce"}
	if o.meta != nil {
		o.meta(&meta)
	}
	m, err := New(cfg, meta, o.opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// run starts m.Run in a goroutine that the test's cleanup stops and waits for.
func run(t *testing.T, m *Membership) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errCh := make(chan error, 1)
	go func() { errCh <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errCh; err != nil {
			t.Errorf("Run(%s): %v", m.LocalName(), err)
		}
	})
}

func joinTo(addrs ...string) func(*Config) {
	return func(c *Config) { c.JoinAddrs = addrs }
}

// aliveNames lists the names m sees alive.
func aliveNames(m *Membership) map[string]bool {
	out := map[string]bool{}
	for _, mem := range m.Members() {
		if mem.State == StateAlive {
			out[mem.Name] = true
		}
	}
	return out
}

func sees(m *Membership, name string, st State) bool {
	mem, ok := m.Member(name)
	return ok && mem.State == st
}
