package config

import (
	"net"
	"strconv"
	"strings"
)

// listener is one TCP port the node binds, with the key that sets it.
type listener struct {
	key  string
	host string
	port int
}

// listeners are the node's TCP listeners with a fixed port, in the order
// an error names them: gossip, internode, gRPC, HTTP, DNS. Port 0 (picked at
// start) and addresses Validate refuses anyway are left out.
func (c Config) listeners() []listener {
	var ls []listener
	if cl := c.Cluster; cl.Enabled {
		ls = append(ls,
			listener{"cluster.membership.bind_port", cl.Membership.BindAddr, cl.Membership.BindPort},
			listener{"cluster.internode.bind_port", cl.InternodeBindAddr(), cl.Internode.BindPort})
	}
	for _, a := range [...]struct{ key, addr string }{{"api.grpc_addr", c.API.GRPCAddr}, {"api.http_addr", c.API.HTTPAddr}} {
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			continue
		}
		ls = append(ls, listener{a.key, host, n})
	}
	if c.DNS.Enabled() {
		// The DNS interface's TCP side; its UDP side shares the port with
		// gossip's UDP the same way, so one check covers both.
		if host, port, err := net.SplitHostPort(c.DNS.BindAddr); err == nil {
			if n, err := strconv.Atoi(port); err == nil {
				ls = append(ls, listener{"dns.bind_addr", host, n})
			}
		}
	}
	out := ls[:0]
	for _, l := range ls {
		if l.port > 0 && l.port <= maxPort {
			out = append(out, l)
		}
	}
	return out
}

// checkPortClashes refuses two listeners of this node on one port of one
// address (gossip's TCP and the mesh, or the gRPC and HTTP APIs), which
// would otherwise fail at start with "address already in use" after the
// node had begun to join. The error names both keys.
func (p *problems) checkPortClashes(c Config) {
	ls := c.listeners()
	for i, b := range ls {
		for _, a := range ls[:i] {
			if a.port == b.port && hostsOverlap(a.host, b.host) {
				p.add(b.key, "port %d is also %s's (%s): each listener needs a port of its own",
					b.port, a.key, net.JoinHostPort(a.host, strconv.Itoa(a.port)))
				break
			}
		}
	}
}

// hostsOverlap reports whether listeners on hosts a and b can collide: the
// same address, or either one every interface ("", 0.0.0.0, ::). A host
// name is compared by name, except localhost, which is loopback.
func hostsOverlap(a, b string) bool {
	ipA, ipB := bindIP(a), bindIP(b)
	if wildcard(a, ipA) || wildcard(b, ipB) {
		return true
	}
	if ipA != nil && ipB != nil {
		return ipA.Equal(ipB)
	}
	return strings.EqualFold(a, b)
}

// bindIP parses a bind host; localhost counts as 127.0.0.1.
func bindIP(h string) net.IP {
	if strings.EqualFold(h, "localhost") {
		return net.IPv4(127, 0, 0, 1)
	}
	return net.ParseIP(strings.Trim(h, "[]"))
}

func wildcard(h string, ip net.IP) bool { return h == "" || (ip != nil && ip.IsUnspecified()) }
