package internode

import (
	"fmt"
	"net"
	"strconv"
)

// listen binds the mesh's one TCP listener: BindPort if set, else the first
// free port of PortMin..PortMax, else an ephemeral port. Any bind error in
// the range (in use, or not permitted) moves on to the next port, so a busy
// range never stops a node from starting.
func listen(cfg Config) (net.Listener, error) {
	bind := func(port int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(cfg.BindAddr, strconv.Itoa(port)))
	}
	if cfg.BindPort != 0 {
		return bind(cfg.BindPort)
	}
	if cfg.PortMin != 0 {
		for p := cfg.PortMin; p <= cfg.PortMax; p++ {
			if ln, err := bind(p); err == nil {
				return ln, nil
			}
		}
	}
	return bind(0)
}

// advertiseHost picks the host peers dial: AdvertiseAddr, else a specific
// BindAddr, else this machine's private IPv4 (what memberlist and Consul
// advertise when bound to 0.0.0.0).
func advertiseHost(cfg Config) (string, error) {
	if cfg.AdvertiseAddr != "" {
		return cfg.AdvertiseAddr, nil
	}
	if ip := net.ParseIP(cfg.BindAddr); ip != nil && !ip.IsUnspecified() {
		return cfg.BindAddr, nil
	}
	ip, err := privateIPv4()
	if err != nil {
		return "", err
	}
	return ip.String(), nil
}

// privateIPv4 returns the first private IPv4 address of an up, non-loopback
// interface, else the first global unicast IPv4 of one.
func privateIPv4() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("internode: list interfaces for AdvertiseAddr: %w", err)
	}
	var public net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := ipn.IP.To4()
			if ip == nil || !ip.IsGlobalUnicast() {
				continue
			}
			if ip.IsPrivate() {
				return ip, nil
			}
			if public == nil {
				public = ip
			}
		}
	}
	if public != nil {
		return public, nil
	}
	return nil, fmt.Errorf("%w: AdvertiseAddr is empty, BindAddr is unspecified and no interface has an IPv4 address to advertise", ErrInvalidConfig)
}
