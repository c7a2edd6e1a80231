package internode

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// raftPeer is a real hashicorp/raft NetworkTransport over a mesh's
// ClassRaft stream layer, with a goroutine answering its RPCs the way a
// follower would.
type raftPeer struct {
	m     *Mesh
	trans *raft.NetworkTransport
	seen  chan any // commands received
}

func newRaftPeer(t *testing.T, m *Mesh) *raftPeer {
	t.Helper()
	p := &raftPeer{
		m:     m,
		trans: raft.NewNetworkTransport(m.StreamLayer(ClassRaft), 3, time.Second, io.Discard),
		seen:  make(chan any, 16),
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case rpc := <-p.trans.Consumer():
				p.seen <- rpc.Command
				switch cmd := rpc.Command.(type) {
				case *raft.AppendEntriesRequest:
					rpc.Respond(&raft.AppendEntriesResponse{Term: cmd.Term, LastLog: cmd.PrevLogEntry + uint64(len(cmd.Entries)), Success: true}, nil)
				case *raft.RequestVoteRequest:
					rpc.Respond(&raft.RequestVoteResponse{Term: cmd.Term, Granted: true}, nil)
				default:
					rpc.Respond(nil, errors.New("unexpected rpc"))
				}
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-exited
		_ = p.trans.Close()
	})
	return p
}

func header(p *raftPeer) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(p.m.Addr()), Addr: []byte(p.m.Addr())}
}

func TestRaftNetworkTransportOverMesh(t *testing.T) {
	a, b := newRaftPeer(t, newMesh(t, nil)), newRaftPeer(t, newMesh(t, nil))
	if got := a.trans.LocalAddr(); got != raft.ServerAddress(a.m.Addr()) {
		t.Fatalf("transport LocalAddr %q, want the mesh's advertised %q", got, a.m.Addr())
	}

	// AppendEntries a -> b, with entries.
	req := &raft.AppendEntriesRequest{
		RPCHeader:         header(a),
		Term:              7,
		PrevLogEntry:      10,
		PrevLogTerm:       6,
		Entries:           []*raft.Log{{Index: 11, Term: 7, Type: raft.LogCommand, Data: []byte("set x=1")}},
		LeaderCommitIndex: 10,
	}
	var resp raft.AppendEntriesResponse
	if err := a.trans.AppendEntries("b", raft.ServerAddress(b.m.Addr()), req, &resp); err != nil {
		t.Fatalf("AppendEntries: %v", err)
	}
	if !resp.Success || resp.Term != 7 || resp.LastLog != 11 {
		t.Fatalf("AppendEntries response %+v", resp)
	}
	got := (<-b.seen).(*raft.AppendEntriesRequest)
	if got.Term != 7 || len(got.Entries) != 1 || string(got.Entries[0].Data) != "set x=1" ||
		string(got.Addr) != a.m.Addr() {
		t.Fatalf("b received %+v", got)
	}

	// RequestVote b -> a: the other direction uses b's own outbound session.
	var vote raft.RequestVoteResponse
	vreq := &raft.RequestVoteRequest{RPCHeader: header(b), Term: 8, LastLogIndex: 11, LastLogTerm: 7}
	if err := b.trans.RequestVote("a", raft.ServerAddress(a.m.Addr()), vreq, &vote); err != nil {
		t.Fatalf("RequestVote: %v", err)
	}
	if !vote.Granted || vote.Term != 8 {
		t.Fatalf("RequestVote response %+v", vote)
	}
	if v := (<-a.seen).(*raft.RequestVoteRequest); v.Term != 8 {
		t.Fatalf("a received %+v", v)
	}

	// The pipeline raft uses to replicate runs over the mesh too.
	pipe, err := a.trans.AppendEntriesPipeline("b", raft.ServerAddress(b.m.Addr()))
	if err != nil {
		t.Fatalf("AppendEntriesPipeline: %v", err)
	}
	defer pipe.Close()
	// raft consumes responses while it sends (two in flight), so do we.
	const n = 5
	results := make(chan error, n)
	go func() {
		for range n {
			select {
			case f := <-pipe.Consumer():
				err := f.Error()
				if err == nil && !f.Response().Success {
					err = errors.New("not successful")
				}
				results <- err
			case <-time.After(5 * time.Second):
				results <- errors.New("pipeline response never came")
			}
		}
	}()
	for i := range n {
		r := &raft.AppendEntriesRequest{RPCHeader: header(a), Term: 7, PrevLogEntry: uint64(11 + i)}
		if _, err := pipe.AppendEntries(r, &raft.AppendEntriesResponse{}); err != nil {
			t.Fatalf("pipeline AppendEntries %d: %v", i, err)
		}
	}
	for i := range n {
		if err := <-results; err != nil {
			t.Fatalf("pipeline response %d: %v", i, err)
		}
	}

	sa, sb := a.m.Stats(), b.m.Stats()
	if sa.SessionsDialed != 1 || sb.SessionsDialed != 1 {
		t.Fatalf("want one outbound session per side: %d, %d", sa.SessionsDialed, sb.SessionsDialed)
	}
	if ra := sa.Classes[ClassRaft]; ra.BytesOut == 0 || ra.StreamsOut == 0 || ra.StreamsIn == 0 {
		t.Fatalf("raft class counters on a: %+v", ra)
	}
}

func TestStreamLayerCloseAndDial(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	la, lb := a.StreamLayer(ClassRaft), b.StreamLayer(ClassRaft)
	if la.Addr().String() != a.Addr() || la.Addr().Network() != "tcp" {
		t.Fatalf("Addr %v", la.Addr())
	}

	accepted := make(chan error, 1)
	go func() {
		c, err := lb.Accept()
		if err == nil {
			buf := make([]byte, 4)
			_, err = io.ReadFull(c, buf)
			if err == nil && string(buf) != "ping" {
				err = errors.New("got " + string(buf))
			}
			if err == nil {
				_, err = c.Write([]byte("pong"))
			}
		}
		accepted <- err
	}()
	c, err := la.Dial(raft.ServerAddress(b.Addr()), time.Second)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read %q %v", buf, err)
	}
	if err := <-accepted; err != nil {
		t.Fatalf("accept side: %v", err)
	}

	// A closed layer stops Accept and Dial; inbound streams of its class
	// are then dropped at b.
	_ = lb.Close()
	_ = lb.Close()
	if _, err := lb.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := lb.Dial(raft.ServerAddress(a.Addr()), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
	c2, err := la.Dial(raft.ServerAddress(b.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c2.Read(buf); err != io.EOF {
		t.Fatalf("stream to a closed layer: read %d, %v; want EOF", n, err)
	}

	// Dial to nowhere fails within its timeout.
	if _, err := la.Dial("127.0.0.1:1", 500*time.Millisecond); !errors.Is(err, ErrNotSent) {
		t.Fatalf("Dial to a closed port: %v", err)
	}
}

// A write on a stream whose session has ended sends nothing and says so:
// its error wraps ErrNotSent and has NotSent (which Raft's transport in
// raftcore reads to try a vote again on a fresh stream).
func TestWriteOnEndedSessionIsNotSent(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	l := b.StreamLayer(ClassRaft)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	conn, err := a.StreamLayer(ClassRaft).Dial(raft.ServerAddress(b.Addr()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a.ClosePeer(b.Addr())
	_, err = conn.Write([]byte("vote"))
	var ns interface{ NotSent() bool }
	if !errors.Is(err, ErrNotSent) || !errors.As(err, &ns) || !ns.NotSent() {
		t.Fatalf("write after the session ended: %v, want a not-sent error", err)
	}
}
