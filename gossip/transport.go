package gossip

import (
	"context"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// transport wraps memberlist's NetTransport. It exists for two reasons: the
// test packet filter (faults are injected in the transport, never faked in
// the logic: STYLE rule 16), and shutdown that cancels in-flight dials so Run
// returns promptly. It implements memberlist.NodeAwareTransport in full so
// memberlist uses it as is instead of shimming it.
type transport struct {
	inner *memberlist.NetTransport
	// allow is the test filter; nil allows everything. It is called once per
	// packet, so it must be cheap and safe for concurrent use.
	allow    func(remoteAddr string) bool
	counters *counters

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	dialCtx    context.Context // cancelled by Shutdown to abort dials
	cancelDial context.CancelFunc
	stopping   chan struct{} // closed first by Shutdown: forwarders stop delivering
	done       chan struct{} // closed once the inner listeners are gone
	wg         sync.WaitGroup
	once       sync.Once
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// newTransport binds the gossip TCP and UDP listeners. With port 0 it retries
// a few times, because the ephemeral TCP port it picks may already be taken
// for UDP (memberlist does the same for its own transport).
func newTransport(bindAddr string, port int, logger *log.Logger, allow func(string) bool, c *counters) (*transport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{bindAddr}, BindPort: port, Logger: logger}
	tries := 1
	if port == 0 {
		tries = 10
	}
	var (
		inner *memberlist.NetTransport
		err   error
	)
	for range tries {
		inner, err = memberlist.NewNetTransport(nc)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bind gossip %s port %d: %w", bindAddr, port, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &transport{
		inner:      inner,
		allow:      allow,
		counters:   c,
		packetCh:   make(chan *memberlist.Packet),
		streamCh:   make(chan net.Conn),
		dialCtx:    ctx,
		cancelDial: cancel,
		stopping:   make(chan struct{}),
		done:       make(chan struct{}),
	}
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
	return t, nil
}

// boundPort is the port actually bound (useful when 0 was asked for).
func (t *transport) boundPort() int { return t.inner.GetAutoBindPort() }

func (t *transport) allowed(addr string) bool {
	if t.allow == nil || t.allow(addr) {
		return true
	}
	t.counters.filteredPackets.Add(1)
	return false
}

// forwardPackets moves inbound packets from the NetTransport to memberlist,
// dropping those the filter refuses. It keeps draining until the inner
// listeners are gone, because NetTransport's reader blocks on an unbuffered
// send and would otherwise hang its own Shutdown.
func (t *transport) forwardPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case p := <-in:
			if !t.allowed(p.From.String()) {
				continue
			}
			t.counters.bytesIn.Add(uint64(len(p.Buf)))
			select {
			case t.packetCh <- p:
			case <-t.stopping: // memberlist may no longer read: drop
			}
		case <-t.done:
			return
		}
	}
}

// forwardStreams moves inbound stream connections to memberlist. Streams are
// not filtered: their source port is ephemeral, so the filter's gossip
// address cannot name them; refusing outbound dials on both sides of a
// symmetric partition already cuts every stream.
func (t *transport) forwardStreams() {
	defer t.wg.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case c := <-in:
			c = countingConn{Conn: c, c: t.counters}
			select {
			case t.streamCh <- c:
			case <-t.stopping:
				_ = c.Close()
			}
		case <-t.done:
			return
		}
	}
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport. A filtered packet
// is dropped silently, as a lossy network would.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if !t.allowed(a.Addr) {
		return time.Now(), nil
	}
	ts, err := t.inner.WriteToAddress(b, a)
	if err == nil {
		t.counters.bytesOut.Add(uint64(len(b)))
	}
	return ts, err
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport. A filtered
// dial fails at once, like a refused connection.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if !t.allowed(a.Addr) {
		return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrFiltered)
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(t.dialCtx, "tcp", a.Addr)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: conn, c: t.counters}, nil
}

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown implements memberlist.Transport. It is idempotent and returns
// once the listeners and both forwarders are gone.
func (t *transport) Shutdown() error {
	var err error
	t.once.Do(func() {
		t.cancelDial()
		close(t.stopping)
		err = t.inner.Shutdown()
		close(t.done)
		t.wg.Wait()
	})
	return err
}
