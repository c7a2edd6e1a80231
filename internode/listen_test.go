package internode

import (
	"net"
	"strconv"
	"testing"
)

func splitPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// freeRange finds two consecutive free ports on 127.0.0.1. Another process
// may take one before we bind it, so callers retry on a surprise.
func freeRange(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, base := splitPort(t, ln.Addr().String())
		ln2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+1)))
		_ = ln.Close()
		if err == nil {
			_ = ln2.Close()
			return base
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}

func TestAutoPort(t *testing.T) {
	for attempt := range 5 {
		base := freeRange(t)
		inRange := func(c *Config) { c.PortMin, c.PortMax = base, base+1 }
		m1 := newMesh(t, inRange)
		m2 := newMesh(t, inRange)
		m3 := newMesh(t, inRange)
		_, p1 := splitPort(t, m1.Addr())
		_, p2 := splitPort(t, m2.Addr())
		_, p3 := splitPort(t, m3.Addr())
		_ = m1.Close()
		_ = m2.Close()
		_ = m3.Close()
		if p1 != base || p2 != base+1 {
			// Someone else took a port of the range in between; try another.
			t.Logf("attempt %d: range %d-%d was raced (%d, %d)", attempt, base, base+1, p1, p2)
			continue
		}
		if p3 == base || p3 == base+1 || p3 == 0 {
			t.Fatalf("third mesh got port %d; want an ephemeral port outside the full range %d-%d", p3, base, base+1)
		}
		return
	}
	t.Fatal("could not get a quiet port range")
}

func TestFixedPortInUse(t *testing.T) {
	m := newMesh(t, nil)
	_, port := splitPort(t, m.Addr())
	c := DefaultLocalConfig()
	c.BindPort = port
	if m2, err := New(c); err == nil {
		_ = m2.Close()
		t.Fatal("a fixed BindPort that is taken must fail, not fall back")
	}
}

func TestAdvertiseAddr(t *testing.T) {
	m := newMesh(t, func(c *Config) { c.AdvertiseAddr = "node-a.example" })
	host, port := splitPort(t, m.Addr())
	if host != "node-a.example" || port == 0 {
		t.Fatalf("Addr %q", m.Addr())
	}
	if m.StreamLayer(ClassRaft).Addr().String() != m.Addr() {
		t.Fatal("stream layer address differs from the mesh's")
	}

	// Bound to every interface, the mesh advertises a real address.
	all := DefaultLocalConfig()
	all.BindAddr = "0.0.0.0"
	if _, err := privateIPv4(); err != nil {
		t.Skipf("no IPv4 interface to advertise: %v", err)
	}
	m2 := newMesh(t, func(c *Config) { *c = all })
	host, _ = splitPort(t, m2.Addr())
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() || ip.IsLoopback() || ip.To4() == nil {
		t.Fatalf("derived advertise address %q", host)
	}
}
