package gossip

import (
	"net"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// Broadcasts queues user messages (the deltas of a StateDelegate) to
// piggyback on gossip. Each message is retransmitted about
// retransmitMult·log(N+1) times, newest first, as memberlist does for its
// own state. Safe for concurrent use.
type Broadcasts struct {
	q *memberlist.TransmitLimitedQueue
}

// NewBroadcasts returns a queue; numNodes is the current cluster size
// (Membership.NumAlive), read when a message is dequeued.
func NewBroadcasts(numNodes func() int, retransmitMult int) *Broadcasts {
	if retransmitMult < 1 {
		retransmitMult = 4
	}
	return &Broadcasts{q: &memberlist.TransmitLimitedQueue{NumNodes: numNodes, RetransmitMult: retransmitMult}}
}

// Queue adds msg; the queue keeps it (the caller must not reuse it).
func (b *Broadcasts) Queue(msg []byte) { b.q.QueueBroadcast(userBroadcast(msg)) }

// Get returns queued messages for one gossip packet: StateDelegate's
// GetBroadcasts.
func (b *Broadcasts) Get(overhead, limit int) [][]byte { return b.q.GetBroadcasts(overhead, limit) }

// Len is the number of messages still being retransmitted.
func (b *Broadcasts) Len() int { return b.q.NumQueued() }

// MaxBroadcast is the largest message worth queueing: a gossip packet
// carries at most about 1,400 bytes with memberlist's framing. Larger
// messages go by SendReliable.
const MaxBroadcast = 1000

type userBroadcast []byte

func (u userBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (u userBroadcast) Message() []byte                       { return u }
func (u userBroadcast) Finished()                             {}

// SendToAll sends msg over TCP to every member memberlist counts alive,
// except this node, where it arrives as StateDelegate.NotifyMsg. It is for
// deltas too large to piggyback on gossip. It returns how many sends
// succeeded.
func (m *Membership) SendToAll(msg []byte) int {
	m.lifeMu.RLock()
	defer m.lifeMu.RUnlock()
	if m.shut {
		return 0
	}
	sent := 0
	for _, mem := range m.Members() {
		if mem.Name == m.cfg.Name || (mem.State != StateAlive && mem.State != StateSuspect) {
			continue
		}
		host, port, err := net.SplitHostPort(mem.Addr)
		if err != nil {
			continue
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		// A node of our own from the view's copy: the nodes memberlist's
		// Members returns are its own, which its packet handler rewrites
		// (address, port) under its lock while we would read them
		// (a data race under -race, seen with two test runs at once).
		to := &memberlist.Node{Name: mem.Name, Addr: net.ParseIP(host), Port: uint16(p)}
		if err := m.ml.SendReliable(to, msg); err == nil {
			sent++
		}
	}
	return sent
}
