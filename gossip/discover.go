package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// Join discovery from an inventory (docs/discovery.md): Config.DiscoverDNS
// and Config.DiscoverFile name the addresses this node may join; Run
// resolves them before its first join and again every DiscoverInterval,
// joins the inventory's addresses that are not live members yet, and adds
// them to the seeds it tries when it finds itself alone. With
// Config.AllowOnlyInventory the inventory is also an allow-list: an alive
// message for a member at an address outside it is refused (the member
// stays out of the view), checked against what this node resolved, never
// against anything the peer says.

// lookupTimeout bounds each DNS lookup of a resolution pass.
const lookupTimeout = 5 * time.Second

// discovering reports whether an inventory is configured.
func (m *Membership) discovering() bool { return m.inv != nil }

// resolveInventory resolves the DNS name and re-reads the file, publishes
// the union and returns the addresses that were not in it before. A DNS
// failure keeps the DNS part of the previous pass (a resolver hiccup must
// not empty the allow-list); a file that cannot be read counts as empty
// until it can (docs/discovery.md). Called from Run's goroutines only,
// never concurrently.
func (m *Membership) resolveInventory(ctx context.Context) []string {
	inv := m.inv
	if name := m.cfg.DiscoverDNS; name != "" {
		addrs, err := m.lookupInventoryDNS(ctx, name)
		if err != nil {
			m.counters.inventoryErrors.Add(1)
			if m.limiter.allow("inventory/dns") {
				m.log.Warn().Err(err).Str("dns", name).Int("kept", len(inv.dnsAddrs)).Msg("inventory dns lookup failed; keeping the last answer")
			}
		} else {
			inv.dnsAddrs = addrs
		}
	}
	if path := m.cfg.DiscoverFile; path != "" {
		sig, data, changed, err := readInventoryFile(path, inv.fileSig)
		switch {
		case err != nil:
			m.counters.inventoryErrors.Add(1)
			if m.limiter.allow("inventory/file") {
				m.log.Warn().Err(err).Str("file", path).Msg("inventory file unreadable; it counts as empty")
			}
			inv.fileSig, inv.fileLines = fileSig{}, nil
		case changed:
			lines, problems := parseInventory(data, m.bindPort)
			for _, p := range problems {
				m.log.Warn().Str("file", path).Str("problem", p).Msg("inventory file entry ignored")
			}
			inv.fileSig, inv.fileLines = sig, lines
			m.log.Info().Str("file", path).Int("entries", len(lines)).Msg("inventory file loaded")
		}
		inv.fileAddrs = m.resolveHosts(ctx, inv.fileLines)
	}
	added := inv.publish()
	if len(added) > 0 {
		m.log.Info().Strs("added", added).Int("size", len(inv.targets())).Msg("inventory changed")
	}
	return added
}

// lookupInventoryDNS returns the SRV records of name (each target's
// addresses at the record's port) and its A and AAAA records (at this
// node's gossip port). A name with neither is an empty inventory; an error
// is returned only when no lookup answered.
func (m *Membership) lookupInventoryDNS(ctx context.Context, name string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	var errs []error
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	_, srvs, err := m.resolver.LookupSRV(lctx, "", "", name)
	cancel()
	answered := err == nil || isNotFound(err)
	if err != nil && !isNotFound(err) {
		errs = append(errs, fmt.Errorf("srv: %w", err))
	}
	for _, s := range srvs {
		out = append(out, m.resolveHosts(ctx, []hostPort{{host: s.Target, port: s.Port}})...)
	}
	lctx, cancel = context.WithTimeout(ctx, lookupTimeout)
	ips, err := m.resolver.LookupHost(lctx, name)
	cancel()
	switch {
	case err == nil:
		answered = true
	case isNotFound(err):
		answered = true
	default:
		errs = append(errs, fmt.Errorf("a/aaaa: %w", err))
	}
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(ip.Unmap().WithZone(""), m.bindPort))
		}
	}
	if !answered {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out), nil
}

// resolveHosts turns entries into addresses: IPs as they are, names
// through the resolver (a name that does not resolve is left out and
// logged).
func (m *Membership) resolveHosts(ctx context.Context, hps []hostPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, hp := range hps {
		if ip, err := netip.ParseAddr(hp.host); err == nil {
			out = append(out, netip.AddrPortFrom(ip.Unmap().WithZone(""), hp.port))
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		ips, err := m.resolver.LookupHost(lctx, hp.host)
		cancel()
		if err != nil {
			m.counters.inventoryErrors.Add(1)
			if m.limiter.allow("inventory/host/" + hp.host) {
				m.log.Warn().Err(err).Str("host", hp.host).Msg("inventory host does not resolve")
			}
			continue
		}
		for _, s := range ips {
			if ip, err := netip.ParseAddr(s); err == nil {
				out = append(out, netip.AddrPortFrom(ip.Unmap().WithZone(""), hp.port))
			}
		}
	}
	return out
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// discover re-resolves the inventory every DiscoverInterval and joins its
// addresses that are not live members, until ctx ends or the Membership
// shuts down. Run owns it.
func (m *Membership) discover(ctx context.Context) {
	for m.wait(ctx, m.cfg.DiscoverInterval) {
		m.resolveInventory(ctx)
		if m.left.Load() {
			continue
		}
		targets := m.unjoined(m.inv.targets())
		if len(targets) == 0 {
			continue
		}
		n, err := m.join(ctx, targets)
		if m.stopped(ctx) {
			return
		}
		if err != nil {
			m.counters.joinFailures.Add(1)
			if m.limiter.allow("inventory/join") {
				m.log.Warn().Err(err).Strs("addrs", targets).Msg("join from inventory failed")
			}
			continue
		}
		m.counters.joins.Add(1)
		m.log.Info().Int("contacted", n).Strs("addrs", targets).Msg("joined from inventory")
	}
}

// unjoined returns the addrs that are neither this node nor a live member.
func (m *Membership) unjoined(addrs []string) []string {
	live := make(map[string]bool)
	for _, mem := range m.Members() {
		if mem.State == StateAlive {
			live[mem.Addr] = true
		}
	}
	var out []string
	for _, a := range addrs {
		if a != m.local && !live[a] {
			out = append(out, a)
		}
	}
	return out
}

// joinTargets is the seeds plus the inventory, without our own address.
func (m *Membership) joinTargets() []string {
	out := m.seeds()
	if m.discovering() {
		for _, a := range m.inv.targets() {
			if a != m.local && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// guardInventory refuses a peer whose gossip address is not in the
// inventory when Config.AllowOnlyInventory is set. This node itself is
// always allowed (memberlist announces it to itself before m.local is
// known; afterwards only at its own address). Called from memberlist's
// goroutines under its node lock: it only reads the inventory.
func (m *Membership) guardInventory(n *memberlist.Node) error {
	if !m.cfg.AllowOnlyInventory {
		return nil
	}
	ip, ok := netip.AddrFromSlice(n.Addr)
	ap := netip.AddrPortFrom(ip.Unmap(), n.Port)
	if n.Name == m.cfg.Name {
		if self := m.self.Load(); self == nil || *self == ap.String() {
			return nil
		}
	}
	if ok && m.inv.allowed(ap) {
		return nil
	}
	m.counters.rejectedInventory.Add(1)
	if m.limiter.allow("inventory/" + n.Name) {
		m.log.Warn().Str("peer", n.Name).Str("addr", ap.String()).Msg("refusing peer not in the inventory")
	}
	return fmt.Errorf("%w: %s at %s", ErrNotInInventory, n.Name, ap)
}
