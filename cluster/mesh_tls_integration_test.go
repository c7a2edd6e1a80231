package cluster_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/yamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/pki"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/internode"
)

// TestMeshStrangerCannotTouchTheCore is the issue's "done when" for the
// mesh: a process without a certificate that connects to the internode
// port cannot read the Raft configuration, write, or remove a member, and
// its connections are closed and counted. The same moves against a
// cluster in clear succeed, which proves the stranger speaks the protocol.
func TestMeshStrangerCannotTouchTheCore(t *testing.T) {
	t.Run("mtls", func(t *testing.T) {
		regs := registries(3)
		c := testcluster.New(t, 3, testcluster.Options{NodeOptions: func(i int) []cluster.Option {
			return []cluster.Option{cluster.WithRegisterer(regs[i])}
		}})
		leader := c.WaitLeader(20 * time.Second)
		reg := regs[leader.Index()]
		before := leader.RaftStatus()
		victim := otherThan(c, leader)

		if _, err := forward(leader.InternodeAddr(), opConfig, nil); err == nil {
			t.Fatal("a stranger read the Raft configuration")
		}
		if _, err := forward(leader.InternodeAddr(), opApply, []byte("\x01\x02garbage")); err == nil {
			t.Fatal("a stranger's write reached the leader")
		}
		if _, err := forward(leader.InternodeAddr(), opRemove, []byte(victim.Name)); err == nil {
			t.Fatalf("a stranger removed %s", victim.Name)
		}
		if err := requestVote(leader.InternodeAddr(), before.Term+100); err == nil {
			t.Fatal("a stranger's Raft RPC was answered")
		}
		testcluster.WaitFor(t, 5*time.Second, "four connections counted as protocol rejections", func() bool {
			return counter(t, reg, "conclave_internode_rejected_total", "protocol") == 4
		})
		after := leader.RaftStatus()
		if after.Term != before.Term || after.LeaderID != before.LeaderID {
			t.Fatalf("term %d -> %d, leader %s -> %s: the stranger's vote request was heard",
				before.Term, after.Term, before.LeaderID, after.LeaderID)
		}
		if n := len(members(leader)); n != 3 {
			t.Fatalf("%d servers in the configuration after the stranger, want 3", n)
		}
		if n := counter(t, reg, "conclave_fsm_rejected_commands_total", ""); n != 0 {
			t.Fatalf("the stranger's garbage command was committed (%v rejected by the FSM)", n)
		}
		if n := counter(t, reg, "conclave_raft_screened_commands_total", ""); n != 0 {
			t.Fatalf("the stranger's garbage command reached the leader's screen (%v screened)", n)
		}
	})

	t.Run("control: in clear the same moves work", func(t *testing.T) {
		regs := registries(3)
		c := testcluster.New(t, 3, testcluster.Options{Plain: true, NodeOptions: func(i int) []cluster.Option {
			return []cluster.Option{cluster.WithRegisterer(regs[i])}
		}})
		leader := c.WaitLeader(20 * time.Second)
		victim := otherThan(c, leader)
		if reply, err := forward(leader.InternodeAddr(), opConfig, nil); err != nil || len(reply) < 2 {
			t.Fatalf("read configuration in clear: %q %v", reply, err)
		}
		if _, err := forward(leader.InternodeAddr(), opApply, []byte("\x01\x02garbage")); err != nil {
			t.Fatalf("write in clear: %v", err)
		}
		testcluster.WaitFor(t, 5*time.Second, "the garbage command refused by the leader's screen", func() bool {
			return counter(t, regs[leader.Index()], "conclave_raft_screened_commands_total", "") >= 1
		})
		if _, err := forward(leader.InternodeAddr(), opRemove, []byte(victim.Name)); err != nil {
			t.Fatalf("remove in clear: %v", err)
		}
		testcluster.WaitFor(t, 5*time.Second, victim.Name+" removed by the stranger", func() bool {
			return !members(leader)[victim.Name]
		})
	})
}

// members are the node's Raft configuration (voters and standbys) by ID.
func members(n *testcluster.Node) map[string]bool {
	out := map[string]bool{}
	for _, s := range n.RaftStatus().Servers {
		if s.Role != "client" {
			out[s.ID] = true
		}
	}
	return out
}

func registries(n int) []*prometheus.Registry {
	out := make([]*prometheus.Registry, n)
	for i := range out {
		out[i] = prometheus.NewRegistry()
	}
	return out
}

func otherThan(c *testcluster.Cluster, n *testcluster.Node) *testcluster.Node {
	for _, o := range c.Running() {
		if o != n {
			return o
		}
	}
	return nil
}

// counter reads a counter from reg; label, if set, is the value of its
// only label.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// The forward protocol of raftcore (raftcore/forward.go), spoken by hand.
const (
	fwdVersion = 1
	opApply    = 1
	opRemove   = 3
	opConfig   = 4

	classRaft    = 1
	classForward = 2
)

// strangerSession connects to an internode port in clear, as a process
// without a certificate would: the mesh preamble (version 2, an address,
// no node), then yamux.
func strangerSession(addr string) (*yamux.Session, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	self := "127.0.0.1:7999"
	pre := append([]byte("CNCL\x02"), byte(len(self)))
	pre = append(append(pre, self...), 0)
	if _, err := conn.Write(pre); err != nil {
		conn.Close()
		return nil, err
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	return yamux.Client(conn, cfg)
}

// forward sends one forward-class request in clear and returns the reply
// body (raftcore's status byte first).
func forward(addr string, op byte, body []byte) ([]byte, error) {
	sess, err := strangerSession(addr)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	st, err := sess.OpenStream()
	if err != nil {
		return nil, err
	}
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	req := append([]byte{fwdVersion, op}, body...)
	frame := binary.AppendUvarint([]byte{classForward}, uint64(len(req)))
	if _, err := st.Write(append(frame, req...)); err != nil {
		return nil, err
	}
	br := bufio.NewReader(st)
	status, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	reply := make([]byte, n)
	if _, err := io.ReadFull(br, reply); err != nil {
		return nil, err
	}
	if status != 0 || len(reply) == 0 || reply[0] != 0 {
		return reply, fmt.Errorf("status %d, forward status %v", status, reply)
	}
	return reply, nil
}

// requestVote sends a Raft RequestVote with term through hashicorp/raft's
// own transport over a clear stream.
func requestVote(addr string, term uint64) error {
	layer := &strangerLayer{done: make(chan struct{})}
	tr := raft.NewNetworkTransport(layer, 1, 3*time.Second, io.Discard)
	defer tr.Close()
	defer layer.Close()
	var resp raft.RequestVoteResponse
	return tr.RequestVote("n1", raft.ServerAddress(addr), &raft.RequestVoteRequest{
		RPCHeader:          raft.RPCHeader{ID: []byte("stranger"), Addr: []byte("127.0.0.1:7999")},
		Term:               term,
		LastLogIndex:       1 << 40,
		LastLogTerm:        term,
		LeadershipTransfer: true,
	}, &resp)
}

// strangerLayer is a raft.StreamLayer that dials ClassRaft streams in
// clear and accepts nothing.
type strangerLayer struct {
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	sessions []*yamux.Session
}

func (l *strangerLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	sess, err := strangerSession(string(addr))
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.sessions = append(l.sessions, sess)
	l.mu.Unlock()
	st, err := sess.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write([]byte{classRaft}); err != nil {
		return nil, err
	}
	return st, nil
}

func (l *strangerLayer) Accept() (net.Conn, error) {
	<-l.done
	return nil, errors.New("closed")
}

func (l *strangerLayer) Close() error {
	l.once.Do(func() { close(l.done) })
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sessions {
		_ = s.Close()
	}
	return nil
}

func (l *strangerLayer) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7999} }

// TestMeshNodeCannotSpeakForAnotherNode: a valid node certificate of the
// cluster CA opens the mesh, but process-group messages must name the
// certificate's node as their sender: n9 cannot rewrite n1's memberships.
func TestMeshNodeCannotSpeakForAnotherNode(t *testing.T) {
	regs := registries(3)
	c := testcluster.New(t, 3, testcluster.Options{NodeOptions: func(i int) []cluster.Option {
		return []cluster.Option{cluster.WithRegisterer(regs[i])}
	}})
	leader := c.WaitLeader(20 * time.Second)
	target := otherThan(c, leader)
	f := c.IssueCert(pki.CertRequest{Node: "n9"})
	src, err := pki.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{target.InternodeAddr(): target.Name}
	m, err := internode.New(internode.DefaultLocalConfig(), internode.WithTLS(internode.TLS{
		Node: "n9", Certs: src,
		Resolve: func(addr string) (string, error) {
			if n, ok := names[addr]; ok {
				return n, nil
			}
			return "", errors.New("unknown")
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	// A pg sync (wire version 1, type 1) in which n9 claims to be n1.
	claim := func(node string) []byte {
		b := []byte{1, 1, byte(len(node))}
		return append(append(b, node...), 1, 1, 0) // incarnation 1, seq 1, no groups
	}
	_, err = m.Request(ctxT(t), target.InternodeAddr(), internode.ClassGroups, claim("n1"))
	var re *internode.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("n9 posing as n1: %v, want a refusal from the handler", err)
	}
	if n := counter(t, regs[target.Index()], "conclave_internode_sender_mismatch_total", ""); n != 1 {
		t.Fatalf("sender mismatches counted %v, want 1", n)
	}
	// Speaking for itself, n9 passes the check (pg ignores a node it does
	// not see in gossip, and answers with its own sync).
	if _, err := m.Request(ctxT(t), target.InternodeAddr(), internode.ClassGroups, claim("n9")); err != nil {
		t.Fatalf("n9 as itself: %v", err)
	}
	if n := counter(t, regs[target.Index()], "conclave_internode_sender_mismatch_total", ""); n != 1 {
		t.Fatalf("sender mismatches counted %v after an honest message, want 1", n)
	}
}
