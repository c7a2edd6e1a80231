package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// serve runs an API server for n until the test ends and returns a client.
func serve(t *testing.T, n *testcluster.Node) *client.Client {
	t.Helper()
	srv, err := api.New(api.DefaultLocalConfig(), api.ServicesOf(n.Node))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c, err := client.New(srv.GRPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %s: %v", n.Name, err)
		}
	})
	return c
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGroupsOverGRPC drives the Groups service through the SDK on a real
// three-node cluster: joins seen by a monitor on a third node, a session's
// broadcast received by every member, and bad input refused with the
// gRPC code and the field named.
func TestGroupsOverGRPC(t *testing.T) {
	tc := testcluster.New(t, 3, testcluster.Options{})
	tc.WaitLeader(20 * time.Second)
	nodes := tc.Running()
	c1, c2, c3 := serve(t, nodes[0]), serve(t, nodes[1]), serve(t, nodes[2])

	mon, err := c1.Groups().Monitor(tctx(t), "chat")
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	if len(mon.Members()) != 0 {
		t.Fatalf("initial members %v", mon.Members())
	}
	var sessions []*client.Session
	for _, c := range []*client.Client{c2, c3} {
		s, err := c.Session(tctx(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Join(tctx(t), "chat"); err != nil {
			t.Fatalf("join: %v", err)
		}
		sessions = append(sessions, s)
	}
	seen := map[string]bool{}
	for range sessions {
		select {
		case ev := <-mon.Events():
			if !ev.Joined || ev.Member.Node != strings.Split(ev.Member.PID, "/")[0] {
				t.Fatalf("monitor event %+v", ev)
			}
			seen[ev.Member.PID] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("monitor saw %v, err %v", seen, mon.Err())
		}
	}
	for _, s := range sessions {
		if !seen[s.PID()] {
			t.Fatalf("monitor missed %s: %v", s.PID(), seen)
		}
	}
	// Every node lists both members before the broadcast: the sender's
	// node sends to the nodes its own view has members on.
	testcluster.WaitFor(t, 10*time.Second, "every node to list both members", func() bool {
		for _, c := range []*client.Client{c1, c2, c3} {
			if ms, err := c.Groups().Members(tctx(t), "chat"); err != nil || len(ms) != 2 {
				return false
			}
		}
		return true
	})
	gs, err := c1.Groups().List(tctx(t))
	if err != nil || len(gs) != 1 || gs[0].Group != "chat" || gs[0].Members != 2 || gs[0].LocalMembers != 0 {
		t.Fatalf("groups %+v, %v", gs, err)
	}

	res, err := sessions[0].Broadcast(tctx(t), "chat", []byte("hi"))
	if err != nil || res.Members != 2 || res.Nodes != 2 {
		t.Fatalf("broadcast %+v, %v", res, err)
	}
	for _, s := range sessions {
		select {
		case ev := <-s.Events():
			if ev.Kind != client.EventGroupMessage || string(ev.Payload) != "hi" || ev.From != sessions[0].PID() || ev.Group != "chat" {
				t.Fatalf("%s got %+v", s.PID(), ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no message", s.PID())
		}
	}

	big := make([]byte, 1<<20+1)
	bad := map[string]struct {
		err   error
		code  codes.Code
		field string
	}{
		"empty group": {sessions[0].Join(tctx(t), ""), codes.InvalidArgument, "group:"},
		"reserved":    {sessions[0].Join(tctx(t), "_sys.x"), codes.InvalidArgument, "group:"},
		"bad scope":   {sessions[0].Join(tctx(t), "g", client.InScope("a\x01")), codes.InvalidArgument, "scope:"},
		"oversize": {func() error {
			_, err := c1.Groups().Broadcast(tctx(t), "chat", big)
			return err
		}(), codes.InvalidArgument, "payload:"},
		"not member":      {sessions[0].Leave(tctx(t), "other"), codes.FailedPrecondition, "not a member"},
		"foreign session": {c1.Groups().Leave(tctx(t), sessions[0].PID(), "chat"), codes.FailedPrecondition, "not open"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			st, _ := status.FromError(tc.err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.field) {
				t.Fatalf("%v; want %v naming %q", tc.err, tc.code, tc.field)
			}
		})
	}

	if err := sessions[1].Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-mon.Events():
		if ev.Joined || ev.Member.PID != sessions[1].PID() {
			t.Fatalf("monitor event %+v, want the closed session's leave", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("monitor: no leave after the session closed")
	}
}
