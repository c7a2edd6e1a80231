package gossip

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// pushPull builds a raw push/pull stream message as memberlist's net.go
// reads it (handleConn -> readStream -> readRemoteState): the message type
// byte pushPullMsg (6), then a msgpack map of pushPullHeader{Nodes,
// UserStateLen, Join}. nodes and userLen are msgpack-encoded integers.
func pushPull(nodes, userLen []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(6)    // pushPullMsg
	b.WriteByte(0x83) // fixmap of 3
	b.WriteString("\xa5Nodes")
	b.Write(nodes)
	b.WriteString("\xacUserStateLen")
	b.Write(userLen)
	b.WriteString("\xa4Join")
	b.WriteByte(0xc2) // false
	return b.Bytes()
}

// TestPushPullBadNodeCount is the regression test of issue 12: a push/pull
// header announcing -1 nodes made memberlist v0.5.4 call make() with a
// negative length and the whole agent died ("panic: makeslice: len out of
// range"), since the panic is on memberlist's own stream goroutine. Sent
// over real TCP to a running member, with encryption off and on (the
// attacker has no key then, so the message is refused before decoding),
// each message must be refused and counted, and the member must stay up
// and keep gossiping: it still sees its peer, and a new node can still
// join it (a join is a push/pull).
func TestPushPullBadNodeCount(t *testing.T) {
	msgs := map[string][]byte{
		// -1 as msgpack int16: the 31-byte message of the issue.
		"nodes=-1 (31 bytes)": pushPull([]byte{0xd1, 0xff, 0xff}, []byte{0x00}),
		"nodes=-1 fixint":     pushPull([]byte{0xff}, []byte{0x00}),
		"nodes=2^40":          pushPull([]byte{0xd3, 0, 0, 0x01, 0, 0, 0, 0, 0}, []byte{0x00}),
		"userStateLen=-1":     pushPull([]byte{0x00}, []byte{0xff}),
	}
	if n := len(msgs["nodes=-1 (31 bytes)"]); n != 31 {
		t.Fatalf("the issue's message is 31 bytes, built %d", n)
	}
	key := bytes.Repeat([]byte{7}, 32)
	modes := map[string][][]byte{"encryption off": nil, "encryption on": {key}}
	for mode, keys := range modes {
		t.Run(mode, func(t *testing.T) {
			withKeys := func(c *Config) { c.Keys = keys }
			a := startNode(t, "a", nodeOpt{cfg: withKeys})
			b := startNode(t, "b", nodeOpt{cfg: func(c *Config) { withKeys(c); joinTo(a.LocalAddr())(c) }})
			run(t, a)
			run(t, b)
			waitFor(t, converge, "a and b see each other", func() bool { return sees(a, "b", StateAlive) && sees(b, "a", StateAlive) })

			for name, msg := range msgs {
				before := a.Stats().RejectedMessages
				sendRaw(t, a.LocalAddr(), msg)
				waitFor(t, converge, name+" refused and counted", func() bool { return a.Stats().RejectedMessages > before })
			}

			// a still serves push/pull: a new node joins through it.
			c := startNode(t, "c", nodeOpt{cfg: func(c *Config) { withKeys(c); joinTo(a.LocalAddr())(c) }})
			run(t, c)
			waitFor(t, converge, "a sees c and b, b sees c", func() bool {
				return sees(a, "c", StateAlive) && sees(a, "b", StateAlive) && sees(b, "c", StateAlive)
			})
			if got := a.NumAlive(); got != 3 {
				t.Fatalf("a sees %d alive, want 3", got)
			}
		})
	}
}

// sendRaw writes msg on a new TCP connection to addr and reads until the
// peer closes it (or answers with an error and closes).
func sendRaw(t *testing.T, addr string, msg []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
}
