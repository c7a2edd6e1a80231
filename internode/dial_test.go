package internode

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestDialGateAndClosePeer(t *testing.T) {
	ga, gb := newGate(), newGate()
	a := newMesh(t, nil, WithDialGate(ga.check))
	b := newMesh(t, nil, WithDialGate(gb.check))
	entered, left := make(chan struct{}, 1), make(chan error, 1)
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "hang" {
			entered <- struct{}{}
			<-ctx.Done() // ends with the session
			left <- ctx.Err()
			return nil, ctx.Err()
		}
		return req, nil
	})
	sla, slb := a.StreamLayer(ClassRaft), b.StreamLayer(ClassRaft)
	ctx := ctxTimeout(t, 10*time.Second)

	if _, err := a.Request(ctx, b.Addr(), ClassForward, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	// Open streams of both kinds that the cut must kill.
	hung := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, b.Addr(), ClassForward, []byte("hang"))
		hung <- err
	}()
	<-entered
	raftConn, err := sla.Dial(raft.ServerAddress(b.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raftConn.Close()
	inbound, err := slb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer inbound.Close()

	// Cut the link: gates stop new traffic, ClosePeer kills what is open.
	ga.set(b.Addr(), true)
	gb.set(a.Addr(), true)
	a.ClosePeer(b.Addr())
	b.ClosePeer(a.Addr())

	select {
	case err := <-hung:
		if err == nil {
			t.Fatal("in-flight Request succeeded across a cut link")
		}
	case <-ctx.Done():
		t.Fatal("in-flight Request not killed by ClosePeer")
	}
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx: %v, want cancelled with its session", err)
	}
	_ = inbound.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := inbound.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("raft stream survived ClosePeer: %v", err)
	}
	waitFor(t, 5*time.Second, "no sessions left", func() bool {
		return a.Stats().ConnectionsOpen == 0 && b.Stats().ConnectionsOpen == 0
	})

	// While cut, everything towards the peer fails at once with the gate's
	// error.
	for name, err := range map[string]error{
		"request": func() error { _, err := a.Request(ctx, b.Addr(), ClassForward, nil); return err }(),
		"send":    a.Send(ctx, b.Addr(), ClassForward, nil),
		"dial":    func() error { _, err := sla.Dial(raft.ServerAddress(b.Addr()), time.Second); return err }(),
		"reverse": func() error { _, err := b.Request(ctx, a.Addr(), ClassForward, nil); return err }(),
	} {
		if !errors.Is(err, errPartitioned) || !errors.Is(err, ErrGated) || !errors.Is(err, ErrNotSent) {
			t.Errorf("%s across a cut link: %v", name, err)
		}
	}
	if s := a.Stats(); s.SessionsDialed != 1 || s.DialFailures != 0 {
		t.Fatalf("a dialed while gated: %+v", s)
	}

	// Heal: traffic resumes over a fresh session.
	ga.set(b.Addr(), false)
	gb.set(a.Addr(), false)
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("again")); err != nil || string(got) != "again" {
		t.Fatalf("Request after heal: %q %v", got, err)
	}
	if s := a.Stats(); s.SessionsDialed != 2 {
		t.Fatalf("SessionsDialed = %d, want 2 after heal", s.SessionsDialed)
	}
}

func TestGateRefusesInbound(t *testing.T) {
	// Only b is gated: a can still dial, but b drops a's session at once.
	gb := newGate()
	a := newMesh(t, nil)
	b := newMesh(t, nil, WithDialGate(gb.check))
	b.Handle(ClassForward, echo)
	gb.set(a.Addr(), true)
	ctx := ctxTimeout(t, 5*time.Second)

	if _, err := a.Request(ctx, b.Addr(), ClassForward, []byte("x")); err == nil {
		t.Fatal("Request succeeded into a gated peer")
	}
	if s := b.Stats(); s.SessionsAccepted != 0 || s.Classes[ClassForward].StreamsIn != 0 {
		t.Fatalf("b accepted a gated peer: %+v", s)
	}
	gb.set(a.Addr(), false)
	waitFor(t, 5*time.Second, "a to forget its dead session", func() bool { return a.Stats().ConnectionsOpen == 0 })
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("x")); err != nil || string(got) != "x" {
		t.Fatalf("Request after un-gating: %q %v", got, err)
	}
}

func TestSessionRedialAfterPeerRestart(t *testing.T) {
	a := newMesh(t, nil)
	b := newMesh(t, nil)
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 5*time.Second)
	if _, err := a.Request(ctx, b.Addr(), ClassForward, nil); err != nil {
		t.Fatal(err)
	}
	// b goes away and a new mesh takes its port.
	addr := b.Addr()
	_ = b.Close()
	waitFor(t, 5*time.Second, "a to notice", func() bool { return a.Stats().ConnectionsOpen == 0 })
	_, port := splitPort(t, addr)
	b2 := newMesh(t, func(c *Config) { c.BindPort = port })
	b2.Handle(ClassForward, echo)
	if got, err := a.Request(ctx, addr, ClassForward, []byte("back")); err != nil || string(got) != "back" {
		t.Fatalf("Request after restart: %q %v", got, err)
	}
	if s := a.Stats(); s.SessionsDialed != 2 {
		t.Fatalf("SessionsDialed = %d, want 2", s.SessionsDialed)
	}
}
